import IngestService
import IngestWorker
import Prometheus

/// Counts the pull worker's tasks by kind (`execute`, `list_components`) and outcome
/// (`completed`, `completed_error`, `not_claimed`, `aborted`, `undelivered`) in the worker's
/// registry, beside the document metrics the component records.
struct GRPCTaskMetrics: Sendable {
    let metrics: WorkerMetrics

    func record(_ assignment: Stepflow_V1_TaskAssignment, _ outcome: TaskOutcome) {
        let kind = switch assignment.task {
        case .execute: "execute"
        case .listComponents: "list_components"
        case nil: "empty"
        }
        let label = switch outcome {
        case .completed(.error): "completed_error"
        case .completed: "completed"
        case .notClaimed: "not_claimed"
        case .aborted: "aborted"
        case .undelivered: "undelivered"
        }
        metrics.registry.makeCounter(descriptor: Self.tasks, labels: [("kind", kind), ("outcome", label)]).increment()
    }

    /// An assignment over STEPFLOW_MAX_ASSIGNMENT_BYTES was refused by the pull stream: the
    /// worker never saw the task, so only this counter and one log line tell.
    func recordOversizedAssignment() {
        metrics.registry.makeCounter(descriptor: Self.oversizedAssignments).increment()
    }

    /// Exports the counter at 0 from the start, so an alert can compare it with nothing.
    func exportOversizedAssignments() {
        _ = metrics.registry.makeCounter(descriptor: Self.oversizedAssignments)
    }

    static var oversizedAssignments: MetricNameDescriptor { .ingest(
        "grpc_assignments_oversized", unit: "total",
        help: "Task assignments over STEPFLOW_MAX_ASSIGNMENT_BYTES dropped by the pull stream (the stream was reopened; the task is left to the orchestrator).") }

    static var tasks: MetricNameDescriptor { .ingest(
        "grpc_tasks", unit: "total",
        help: "Stepflow gRPC tasks handled, by kind and outcome (completed_error: the step failed and the orchestrator was told).") }
}
