import Foundation
import IngestKit

/// The worker's requests to the orchestrator (`blobs/get`) that await a reply. The request goes out
/// as an SSE event on the execute response; the reply comes back as a separate POST, possibly on
/// another connection, so the table is process-wide and keyed by JSON-RPC id.
package actor PendingCallbacks {
    private var waiting: [JSONRPCID: AsyncStream<Result<JSONValue, JSONRPCError>>.Continuation] = [:]

    /// An empty table.
    package init() {}

    /// Ids awaiting a reply (for tests and diagnostics).
    package var pendingIDs: [JSONRPCID] { Array(waiting.keys) }

    /// Sends a request through `send` and waits for its reply, at most `timeout`. The id is
    /// registered before the request is sent, so a fast reply is never missed; it is removed on
    /// every path out (reply, timeout, cancellation of the execute).
    package func call(
        id: JSONRPCID,
        timeout: Duration,
        send: @Sendable () async throws -> Void
    ) async throws -> Result<JSONValue, JSONRPCError> {
        let (stream, continuation) = AsyncStream.makeStream(of: Result<JSONValue, JSONRPCError>.self, bufferingPolicy: .bufferingNewest(1))
        waiting[id] = continuation
        defer {
            waiting[id] = nil
            continuation.finish()
        }
        try await send()
        return try await withThrowingTaskGroup(of: Result<JSONValue, JSONRPCError>?.self) { group in
            group.addTask {
                for await reply in stream { return reply }
                return nil
            }
            group.addTask {
                try await Task.sleep(for: timeout)
                throw CallbackTimeout()
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let reply = first else {
                throw CancellationError()
            }
            return reply
        }
    }

    /// Hands a reply POST to the waiting call. Returns false when nothing waits for this id (late
    /// after a timeout, or sent to the wrong replica).
    package func resolve(id: JSONRPCID, result: Result<JSONValue, JSONRPCError>) -> Bool {
        guard let continuation = waiting.removeValue(forKey: id) else { return false }
        continuation.yield(result)
        continuation.finish()
        return true
    }

    /// The orchestrator did not reply within the callback timeout.
    package struct CallbackTimeout: Error {}
}
