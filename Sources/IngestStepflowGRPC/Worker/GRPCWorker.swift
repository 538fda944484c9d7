import Foundation
import GRPCCore
import IngestCore
import IngestKit
import IngestWorker
import Logging
import ServiceLifecycle

/// The Stepflow 0.12+ pull worker as a service: the `PullTasks` loop plus up to
/// STEPFLOW_MAX_CONCURRENT tasks in flight.
///
/// On graceful shutdown (SIGTERM) it stops pulling at once (readiness turns off), lets the
/// tasks in flight finish, still heartbeating, and complete (each bounded by the execute
/// deadline and the completion patience), then closes its connections and returns.
package struct GRPCWorker<Component: TaskComponent>: Service {
    let settings: GRPCWorkerSettings
    let component: Component
    let workerID: String
    let status: PullStatus
    let metrics: WorkerMetrics
    let logger: Logger

    package init(settings: GRPCWorkerSettings, component: Component, workerID: String, status: PullStatus, metrics: WorkerMetrics, logger: Logger) {
        self.settings = settings
        self.component = component
        self.workerID = workerID
        self.status = status
        self.metrics = metrics
        self.logger = logger
    }

    package func run() async throws {
        // The pull stream's client stays; blobs at another address may be evicted when idle.
        let connections = GRPCConnections(pinned: [settings.tasks], tlsFiles: settings.tlsFiles)
        let taskMetrics = GRPCTaskMetrics(metrics: metrics)
        taskMetrics.exportOversizedAssignments()
        let calls = GRPCCallOptions(maxMessageBytes: settings.maxMessageBytes, maxAssignmentBytes: settings.maxAssignmentBytes)
        let source = GRPCTaskSource(connections: connections, endpoint: settings.tasks, calls: calls)
        let orchestrator = GRPCOrchestratorService(connections: connections, tasks: settings.tasks, calls: calls)
        let blobs = GRPCBlobReader(connections: connections, endpoint: settings.blobs, calls: calls)
        await WorkerLoop(
            source: source,
            runner: TaskRunner(
                component: component, orchestrator: orchestrator, source: source, blobs: blobs,
                workerID: workerID, defaultOrchestratorURL: settings.tasks.description,
                policy: settings.taskPolicy, logger: logger
            ),
            settings: settings, workerID: workerID, status: status, logger: logger,
            onOversizedAssignment: taskMetrics.recordOversizedAssignment
        ).run(connections: connections, onTaskEnd: taskMetrics.record)
    }
}

/// The pull loop and the tasks it starts, over any ``TaskSource``: the part of the worker that
/// tests drive with in-memory fakes.
package struct WorkerLoop<Component: TaskComponent, Orchestrator: OrchestratorService, Source: TaskSource, Blobs: BlobReader>: Sendable {
    let loop: PullLoop<Source>
    let runner: TaskRunner<Component, Orchestrator, Source, Blobs>
    let slots: AsyncLimiter
    let status: PullStatus
    let logger: Logger

    /// `onOversizedAssignment` is called once per assignment dropped for being over
    /// STEPFLOW_MAX_ASSIGNMENT_BYTES (metrics).
    /// - Parameter clock: the pull loop's back-off (tests inject a manual clock; the runner has its own).
    package init(
        source: Source, runner: TaskRunner<Component, Orchestrator, Source, Blobs>, settings: GRPCWorkerSettings, workerID: String, status: PullStatus, logger: Logger,
        onOversizedAssignment: @escaping @Sendable () -> Void = {},
        clock: any Clock<Duration> = ContinuousClock(), jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        let slots = AsyncLimiter(limit: settings.maxConcurrent)
        self.loop = PullLoop(
            source: source, queueName: settings.queueName, workerID: workerID, slots: slots, reconnect: settings.reconnect, status: status, logger: logger,
            maxAssignmentBytes: settings.maxAssignmentBytes, onOversizedAssignment: onOversizedAssignment, clock: clock, jitter: jitter
        )
        self.runner = runner
        self.slots = slots
        self.status = status
        self.logger = logger
    }

    /// Runs until graceful shutdown (or cancellation), then waits for the tasks in flight.
    /// `onTaskEnd` sees every outcome (tests, metrics).
    package func run(connections: GRPCConnections? = nil, onTaskEnd: @escaping @Sendable (Stepflow_V1_TaskAssignment, TaskOutcome) -> Void = { _, _ in }) async {
        let loop = self.loop
        let runner = self.runner
        let slots = self.slots
        let status = self.status
        let logger = self.logger
        await withDiscardingTaskGroup { outer in
            if let connections {
                outer.addTask { await connections.run() }
            }
            await withDiscardingTaskGroup { tasks in
                let (assignments, sink) = AsyncStream.makeStream(of: ReceivedAssignment.self)
                tasks.addTask {
                    await cancelWhenGracefulShutdown {
                        await loop.run { sink.yield($0) }
                    }
                    status.startStopping()
                    status.setConnected(false)
                    sink.finish()
                    logger.info("stopped pulling tasks; finishing the tasks in flight", metadata: ["in_flight": "\(slots.inUse)"])
                }
                for await assignment in assignments {
                    tasks.addTask {
                        let outcome = await runner.run(assignment)
                        slots.release()
                        onTaskEnd(assignment.assignment, outcome)
                    }
                }
            }
            logger.info("all tasks finished; closing the orchestrator connections")
            connections?.shutdown()
        }
    }
}
