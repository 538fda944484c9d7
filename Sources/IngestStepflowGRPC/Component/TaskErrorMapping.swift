import Foundation
import IngestCore
import IngestKit
import SwiftProtobuf

/// Which `TaskErrorCode` a failure is reported with. The code decides what the orchestrator does
/// next: INVALID_INPUT and COMPONENT_NOT_FOUND are never retried, COMPONENT_FAILED and
/// RESOURCE_UNAVAILABLE only under an `onError: retry` policy, and TIMEOUT/UNREACHABLE always
/// (which is why this worker never sends them: a retried hang costs a full deadline each time).
package enum TaskErrorMapping {
    /// The code for a failure of `reason`.
    package static func code(for reason: IngestError.Reason) -> Stepflow_V1_TaskErrorCode {
        switch reason {
        // The flow or the document must change: malformed input, a path outside the allowed
        // roots, a refused URL, an unreadable, unsupported, empty, unparseable or too large document.
        case .invalidInput, .unreadable, .unsupportedFormat, .emptyDocument, .parseFailed, .tooLarge:
            .invalidInput
        // A dependency is down or overloaded after our own retries, another worker kept the
        // document's lease (or took it over before we wrote), or this worker had no room for
        // the document's bytes in time: trying again later may work.
        case .serviceUnavailable, .embedFailed, .leaseTimeout, .leaseLost, .resourceUnavailable:
            .resourceUnavailable
        // A bug of ours (decoding our own output, an unexpected throw).
        case .internalError:
            .workerError
        // Our deadline passed, credentials refused, dimension mismatch, a rejected chunk or
        // text, a parse that outlasted DOCLING_TIMEOUT_SECONDS, a bad setting. No `default`:
        // a new reason must be placed here on purpose.
        case .cancelled, .authFailed, .dimensionMismatch, .indexRejected, .embedRejected, .parseTimeout, .configuration:
            .componentFailed
        }
    }

    /// The `TaskError` for `failure`: the message a person reads, `data` with the reason and source.
    package static func taskError(_ failure: ComponentFailure) -> Stepflow_V1_TaskError {
        var error = Stepflow_V1_TaskError()
        error.code = code(for: failure.reason)
        // A refused input reads as the HTTP worker's: which component, then the rule's message.
        error.message = failure.refusedInput ? "Invalid input for /\(IngestComponent.name): \(failure.message)" : failure.message
        var data = [
            "reason": Google_Protobuf_Value(stringValue: failure.reason.rawValue),
            "source": Google_Protobuf_Value(stringValue: failure.source),
        ]
        // The outcome is encoded once, from the typed value (not read back from its JSON).
        if let outcome = failure.outcome, let value = try? ProtobufValueEncoder().encode(outcome.outcome) {
            data["outcome"] = value
        }
        error.data = Google_Protobuf_Struct(fields: data)
        return error
    }

    /// The `TaskError` for an `execute` task naming a component this worker does not serve.
    package static func componentNotFound(_ componentID: String, served: [String]) -> Stepflow_V1_TaskError {
        var error = Stepflow_V1_TaskError()
        error.code = .componentNotFound
        error.message = "Unknown component '\(componentID)': this worker serves \(served.map { "'\($0)'" }.joined(separator: ", ")); route only those to its queue (componentAllow) or fix the step's component path"
        error.data = ProtobufJSON.structValue(["component": .string(componentID)])
        return error
    }
}
