import Foundation
import IngestCore
import IngestKit

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
        // Our deadline passed, credentials refused, dimension mismatch, a rejected chunk, a bad
        // setting, anything else the pipeline reports.
        default:
            .componentFailed
        }
    }

    /// The `TaskError` for `failure`: the message a person reads, `data` with the reason and source.
    package static func taskError(_ failure: ComponentFailure) -> Stepflow_V1_TaskError {
        var error = Stepflow_V1_TaskError()
        error.code = code(for: failure.reason)
        error.message = failure.message
        var data: [String: JSONValue] = [:]
        if let outcome = failure.outcome, let json = try? JSONDecoder().decode(JSONValue.self, from: outcome.json) {
            data["outcome"] = json
        }
        data["reason"] = .string(failure.reason.rawValue)
        data["source"] = .string(failure.source)
        error.data = ProtobufJSON.structValue(data)
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
