import Foundation
import IngestKit

/// How an execution ended.
package enum ComponentResult: Sendable {
    case success(ComponentOutput)
    case failure(ComponentFailure)
}

/// A document outcome with its JSON, encoded once (snake_case keys, sorted, `pages` and `error`
/// absent when nil): what the transports send as is.
package struct ComponentOutput: Sendable, Equatable {
    package var outcome: DocumentOutcome
    package var json: Data

    package init(_ outcome: DocumentOutcome) {
        self.outcome = outcome
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // DocumentOutcome holds strings, numbers and arrays of them: encoding cannot fail.
        self.json = (try? encoder.encode(outcome)) ?? Data("{}".utf8)
    }
}

/// Why an execution failed, typed until a transport renders it (JSON-RPC codes, Stepflow
/// TaskErrorCodes). `outcome` is there when the pipeline ran and reports a failed document.
package struct ComponentFailure: Error, Sendable, Equatable {
    package var reason: IngestError.Reason
    /// The log-safe name of the document (path, URL without credentials, file name, blob id).
    package var source: String
    /// What failed and what to do; never a library's raw error text.
    package var message: String
    package var outcome: ComponentOutput?
    /// The input broke the component's rules (``IngestComponent/accept(_:logger:)``): nothing
    /// ran. Transports render it as they render a malformed request (JSON-RPC -32602
    /// `Invalid params: input for /ingest: …`, gRPC INVALID_INPUT `Invalid input for /ingest: …`).
    package var refusedInput: Bool

    package init(reason: IngestError.Reason, source: String, message: String, outcome: ComponentOutput? = nil, refusedInput: Bool = false) {
        self.reason = reason
        self.source = source
        self.message = message
        self.outcome = outcome
        self.refusedInput = refusedInput
    }
}

