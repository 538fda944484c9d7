import Foundation
import IngestCore
import IngestKit

/// The reply to `components/execute`. The outcome goes in as the bytes the component encoded
/// (`result.output`, or `error.data.outcome` for a failed document): the envelope is written
/// around them, so they are neither parsed again nor searched for.
package enum ExecuteReply {
    package static func data(_ id: JSONRPCID, _ result: ComponentResult) -> Data {
        switch result {
        case .success(let output):
            return JSONRPCEncoder.result(id: id, output: output.json)
        case .failure(let failure):
            let error = JSONRPCError(executionFailure: failure)
            guard let outcome = failure.outcome else { return JSONRPCEncoder.error(id: id, error).jsonData() }
            return JSONRPCEncoder.error(id: id, error, outcome: outcome.json)
        }
    }
}

extension JSONRPCError {
    /// The JSON-RPC error for a failed execution: invalid input is -32602 (the flow must change),
    /// an unexpected error in the worker -32603, every other reason -32003, the code the Stepflow
    /// SDK uses for a failed component. The orchestrator shows `component server error(<code>): <message>`.
    /// An input the component refused before running (``ComponentFailure/refusedInput``) is
    /// -32602 `Invalid params: input for /ingest: …`, as for a malformed `params`.
    package init(executionFailure failure: ComponentFailure) {
        if failure.refusedInput {
            self = .invalidParams("input for /ingest: \(failure.message)", reason: failure.reason)
            return
        }
        let data: JSONValue = ["reason": .string(failure.reason.rawValue), "source": .string(failure.source)]
        // No `default`: a new reason must be given its code here on purpose.
        switch failure.reason {
        case .invalidInput:
            self.init(code: Self.invalidParamsCode, message: "Invalid input for /ingest (source '\(failure.source)'): \(failure.message)", data: data)
        case .internalError where failure.outcome == nil:
            self.init(code: Self.internalErrorCode, message: "Internal error while ingesting '\(failure.source)'; the worker log has the details", data: data)
        case .internalError, .unreadable, .unsupportedFormat, .tooLarge, .parseFailed, .parseTimeout, .emptyDocument, .embedFailed,
            .embedRejected, .indexRejected, .authFailed, .dimensionMismatch, .serviceUnavailable, .leaseTimeout, .leaseLost, .resourceUnavailable,
            .configuration, .cancelled:
            self.init(code: Self.executionFailedCode, message: "Ingest failed for '\(failure.source)' [\(failure.reason.rawValue)]: \(failure.message)", data: data)
        }
    }
}
