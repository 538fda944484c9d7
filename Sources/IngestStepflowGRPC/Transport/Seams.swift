import GRPCCore

/// A task assignment as it came off the pull stream, with its size on the wire: what the worker
/// holds in memory for it, counted in the document budget on receipt and checked against
/// INGEST_MAX_BODY_BYTES without encoding the input again.
package struct ReceivedAssignment: Sendable {
    package var assignment: Stepflow_V1_TaskAssignment
    /// The protobuf encoding's size, as received.
    package var bytes: Int

    package init(_ assignment: Stepflow_V1_TaskAssignment, bytes: Int) {
        self.assignment = assignment
        self.bytes = bytes
    }
}

/// Reads the assignments of one open `PullTasks` stream, in order; nil when the server ended it.
/// Not `Sendable`: it belongs to the one loop that holds the stream.
package struct AssignmentReader {
    private let read: () async throws -> ReceivedAssignment?

    package init(_ read: @escaping () async throws -> ReceivedAssignment?) {
        self.read = read
    }

    /// The next assignment; nil at the end of the stream. Throws the stream's `RPCError`.
    package func next() async throws -> ReceivedAssignment? { try await read() }
}

/// The orchestrator's `TasksService`, as the worker uses it. Errors are `RPCError`s, so the
/// decisions (reconnect, redirect) read the gRPC status code the proto documents.
package protocol TaskSource: Sendable {
    /// Opens `PullTasks` and calls `body` once the stream is established (readiness turns on
    /// there). Returns when `body` returns or the stream ends; throws when it cannot be opened or fails.
    func pullTasks(_ request: Stepflow_V1_PullTasksRequest, body: @escaping @Sendable (AssignmentReader) async throws -> Void) async throws

    /// `GetOrchestratorForRun`: where the run `runID` lives now. Throws `RPCError(.notFound)`
    /// when no orchestrator holds it.
    func orchestratorURL(forRun runID: String) async throws -> String
}

/// The orchestrator's `OrchestratorService` at a given address (each task names the
/// orchestrator that owns its run, which may not be the one it was pulled from).
package protocol OrchestratorService: Sendable {
    /// `TaskHeartbeat` to the orchestrator at `url`: the claim, then the keep-alive.
    func taskHeartbeat(_ request: Stepflow_V1_TaskHeartbeatRequest, at url: String) async throws -> Stepflow_V1_TaskHeartbeatResponse

    /// `CompleteTask` to the orchestrator at `url`; returns once it was acknowledged.
    func completeTask(_ request: Stepflow_V1_CompleteTaskRequest, at url: String) async throws
}
