import Foundation
import GRPCCore
import IngestCore
import IngestKit
import Logging
import SwiftProtobuf
import Synchronization

@testable import IngestStepflowGRPC

/// One scripted event of a fake `PullTasks` stream.
enum StreamEvent: Sendable {
    case assignment(Stepflow_V1_TaskAssignment)
    case fail(RPCError)
    case end
    /// Stay open until cancelled.
    case stayOpen
}

/// `TasksService` in memory: each `pullTasks` call plays the next script (a failure to open, or
/// a stream of events); with no script left, the call waits until cancelled. Counts the
/// assignments the worker read, which is what slot-before-read is about.
final class FakeTaskSource: TaskSource {
    enum Script: Sendable {
        case refuse(RPCError)
        case stream([StreamEvent])
    }

    private let scripts: Mutex<[Script]>
    private let redirects: Mutex<[String: String]>
    private let readCount = Atomic<Int>(0)
    private let readStarts = Atomic<Int>(0)
    private let openCount = Atomic<Int>(0)
    private let requests = Mutex<[Stepflow_V1_PullTasksRequest]>([])
    let progress = Progress()

    init(_ scripts: [Script], redirects: [String: String] = [:]) {
        self.scripts = Mutex(scripts)
        self.redirects = Mutex(redirects)
    }

    var assignmentsRead: Int { readCount.load(ordering: .acquiring) }
    /// Reads begun (a read of an open, quiet stream blocks).
    var readsStarted: Int { readStarts.load(ordering: .acquiring) }
    var streamsOpened: Int { openCount.load(ordering: .acquiring) }
    var pullRequests: [Stepflow_V1_PullTasksRequest] { requests.withLock { $0 } }

    func pullTasks(_ request: Stepflow_V1_PullTasksRequest, body: @escaping @Sendable (AssignmentReader) async throws -> Void) async throws {
        requests.withLock { $0.append(request) }
        defer { progress.signal() }
        let script: Script? = scripts.withLock { $0.isEmpty ? nil : $0.removeFirst() }
        guard let script else {
            try await blockUntilCancelled()
            return
        }
        switch script {
        case .refuse(let error):
            throw error
        case .stream(let events):
            openCount.add(1, ordering: .acquiringAndReleasing)
            progress.signal()
            var remaining = events[...]
            try await body(AssignmentReader {
                self.readStarts.add(1, ordering: .acquiringAndReleasing)
                self.progress.signal()
                guard let event = remaining.popFirst() else {
                    try await blockUntilCancelled()
                    return nil
                }
                switch event {
                case .assignment(let assignment):
                    self.readCount.add(1, ordering: .acquiringAndReleasing)
                    self.progress.signal()
                    return received(assignment)
                case .fail(let error): throw error
                case .end: return nil
                case .stayOpen:
                    try await blockUntilCancelled()
                    return nil
                }
            })
        }
    }

    func orchestratorURL(forRun runID: String) async throws -> String {
        guard let url = redirects.withLock({ $0[runID] }) else { throw RPCError(code: .notFound, message: "no lease for run \(runID)") }
        return url
    }
}

/// `OrchestratorService` in memory: answers come from closures, every call is recorded.
final class FakeOrchestrator: OrchestratorService {
    struct Call: Sendable, Equatable {
        var method: String
        var url: String
        var taskID: String
        var runID: String?
    }

    private let heartbeatAnswer: @Sendable (Stepflow_V1_TaskHeartbeatRequest, String, Int) throws -> Stepflow_V1_TaskHeartbeatResponse
    private let completeAnswer: @Sendable (Stepflow_V1_CompleteTaskRequest, String, Int) throws -> Void
    private let log = Mutex<[Call]>([])
    private let completions = Mutex<[Stepflow_V1_CompleteTaskRequest]>([])
    let progress = Progress()

    /// `heartbeat` and `complete` get the request, the address and the 0-based number of this
    /// call of that kind.
    init(
        heartbeat: @escaping @Sendable (Stepflow_V1_TaskHeartbeatRequest, String, Int) throws -> Stepflow_V1_TaskHeartbeatResponse = { _, _, _ in .inProgress },
        complete: @escaping @Sendable (Stepflow_V1_CompleteTaskRequest, String, Int) throws -> Void = { _, _, _ in }
    ) {
        self.heartbeatAnswer = heartbeat
        self.completeAnswer = complete
    }

    var calls: [Call] { log.withLock { $0 } }
    var heartbeats: [Call] { calls.filter { $0.method == "heartbeat" } }
    var completeCalls: [Call] { calls.filter { $0.method == "complete" } }
    /// Completions that were acknowledged.
    var acknowledged: [Stepflow_V1_CompleteTaskRequest] { completions.withLock { $0 } }

    func taskHeartbeat(_ request: Stepflow_V1_TaskHeartbeatRequest, at url: String) async throws -> Stepflow_V1_TaskHeartbeatResponse {
        let index = log.withLock { log in
            log.append(Call(method: "heartbeat", url: url, taskID: request.taskID, runID: request.hasRunID ? request.runID : nil))
            return log.filter { $0.method == "heartbeat" }.count - 1
        }
        defer { progress.signal() }
        return try heartbeatAnswer(request, url, index)
    }

    func completeTask(_ request: Stepflow_V1_CompleteTaskRequest, at url: String) async throws {
        let index = log.withLock { log in
            log.append(Call(method: "complete", url: url, taskID: request.taskID, runID: request.hasRunID ? request.runID : nil))
            return log.filter { $0.method == "complete" }.count - 1
        }
        defer { progress.signal() }
        try completeAnswer(request, url, index)
        completions.withLock { $0.append(request) }
    }
}

extension Stepflow_V1_TaskHeartbeatResponse {
    static var inProgress: Self {
        var response = Self()
        response.status = .inProgress
        return response
    }

    static var alreadyClaimed: Self {
        var response = Self()
        response.status = .alreadyClaimed
        response.shouldAbort = true
        return response
    }

    static var abort: Self {
        var response = Self()
        response.status = .inProgress
        response.shouldAbort = true
        return response
    }
}

/// The component in memory: `behaviour` decides each execution; executions and cancellations
/// are counted.
final class FakeComponent: TaskComponent {
    enum Behaviour: Sendable {
        case succeed(JSONValue)
        case fail(ComponentFailure)
        /// Waits until ``FakeComponent/release()`` (or cancellation), then succeeds.
        case waitForRelease
        /// Waits until cancelled.
        case hang
    }

    let behaviour: Behaviour
    private let started = Atomic<Int>(0)
    private let cancelled = Atomic<Int>(0)
    private let released = Atomic<Int>(0)
    /// Execution n waits on gate n.
    private let gates = Mutex<[Gate]>([])
    private let inputs = Mutex<[JSONValue]>([])
    private let sizes = Mutex<[Int]>([])
    let progress = Progress()

    init(_ behaviour: Behaviour) {
        self.behaviour = behaviour
    }

    var executions: Int { started.load(ordering: .acquiring) }
    var cancellations: Int { cancelled.load(ordering: .acquiring) }
    var receivedInputs: [JSONValue] { inputs.withLock { $0 } }
    var receivedInputBytes: [Int] { sizes.withLock { $0 } }

    /// Lets the oldest waiting execution finish.
    func release() { gate(released.add(1, ordering: .acquiringAndReleasing).oldValue).open() }

    private func gate(_ index: Int) -> Gate {
        gates.withLock { gates in
            while gates.count <= index { gates.append(Gate()) }
            return gates[index]
        }
    }

    var catalog: [ComponentDescription] {
        [ComponentDescription(componentID: "ingest", path: "/ingest", description: "Ingest one document.", inputSchema: ["type": "object"], outputSchema: ["type": "object"])]
    }

    func execute(componentID: String, input: JSONValue, inputBytes: Int, blobs: some BlobReader, context: ExecutionContext) async throws(CancellationError) -> Result<Google_Protobuf_Value, ComponentFailure> {
        let ticket = started.add(1, ordering: .acquiringAndReleasing).oldValue
        inputs.withLock { $0.append(input) }
        sizes.withLock { $0.append(inputBytes) }
        progress.signal()
        switch behaviour {
        case .succeed(let output): return .success(ProtobufJSON.value(output))
        case .fail(let failure): return .failure(failure)
        case .waitForRelease, .hang:
            do {
                // Execution n finishes after the n-th release; a hanging one never does.
                if case .hang = behaviour { try await blockUntilCancelled() } else { try await gate(ticket).wait() }
            } catch {
                cancelled.add(1, ordering: .acquiringAndReleasing)
                progress.signal()
                throw CancellationError()
            }
            return .success(ProtobufJSON.value(["status": "indexed"]))
        }
    }
}

struct FakeBlobs: BlobReader {
    var blobs: [String: BlobContent] = [:]

    func blob(id: String) async throws(IngestError) -> BlobContent {
        guard let blob = blobs[id] else { throw IngestError(.invalidInput, "blob \(id) does not exist") }
        return blob
    }
}

// MARK: - Builders

func executeTask(_ id: String, component: String = "ingest", input: JSONValue = ["source": "/data/a.pdf"], runID: String? = "run-1", orchestrator: String = "http://orch-a:7840", interval: UInt32 = 1) -> Stepflow_V1_TaskAssignment {
    var assignment = Stepflow_V1_TaskAssignment()
    assignment.taskID = id
    var execute = Stepflow_V1_ComponentExecuteRequest()
    execute.componentID = component
    execute.input = ProtobufJSON.value(input)
    execute.attempt = 1
    var observability = Stepflow_V1_ObservabilityContext()
    if let runID { observability.runID = runID }
    observability.stepID = "ingest"
    execute.observability = observability
    assignment.execute = execute
    var context = Stepflow_V1_TaskContext()
    context.orchestratorServiceURL = orchestrator
    if let runID { context.rootRunID = runID }
    assignment.context = context
    assignment.heartbeatIntervalSecs = interval
    return assignment
}

func listTask(_ id: String, orchestrator: String = "http://orch-a:7840") -> Stepflow_V1_TaskAssignment {
    var assignment = Stepflow_V1_TaskAssignment()
    assignment.taskID = id
    assignment.listComponents = Stepflow_V1_ListComponentsRequest()
    var context = Stepflow_V1_TaskContext()
    context.orchestratorServiceURL = orchestrator
    assignment.context = context
    return assignment
}

/// An assignment as the pull stream hands it over, with its encoded size.
func received(_ assignment: Stepflow_V1_TaskAssignment) -> ReceivedAssignment {
    ReceivedAssignment(assignment, bytes: (try? assignment.serializedBytes() as [UInt8])?.count ?? 0)
}

/// A policy with millisecond back-offs, so a test advances its clock by a few milliseconds.
let fastPolicy = TaskPolicy(
    maxInputBytes: 1024 * 1024,
    claimPatience: .seconds(60),
    completeRetry: RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(1), maxDelay: .milliseconds(5), maxElapsed: .seconds(60)),
    maxRedirects: 3
)

/// A runner over the fakes. Its clock is manual and never moves unless the test moves it: a
/// test that does not advance it sees no heartbeat after the claim and no retry wait end.
func makeRunner<C: TaskComponent>(
    _ component: C,
    orchestrator: FakeOrchestrator,
    source: FakeTaskSource = FakeTaskSource([]),
    blobs: FakeBlobs = FakeBlobs(),
    policy: TaskPolicy = fastPolicy,
    clock: ManualClock = ManualClock()
) -> TaskRunner<C, FakeOrchestrator, FakeTaskSource, FakeBlobs> {
    TaskRunner(
        component: component, orchestrator: orchestrator, source: source, blobs: blobs, workerID: "worker-1", defaultOrchestratorURL: "http://tasks:7840", policy: policy,
        logger: Logger(label: "test"), clock: clock, jitter: { 0.5 }
    )
}
