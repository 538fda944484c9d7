import Foundation

/// A failure a user can meet, with a machine-readable reason and a message a person can act on.
///
/// The message always says what failed, for which file or field, and what to do. It never
/// carries secrets (URLs are passed through ``redactingCredentials(_:)``).
package struct IngestError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Why a document (or the whole run) failed. The raw values are the `reason` strings of the
    /// report and of JSON-RPC error data; they are part of the public contract (README).
    ///
    /// A closed enum, not async-http-client's extensible struct: that pattern keeps a *public*
    /// API from breaking when a code is added, and ours is `package`-scoped. Closed, a new
    /// reason is a compile error wherever reasons are mapped (``isRunFatal``, the CLI's exit
    /// status, the JSON-RPC and gRPC error codes, the embedder probe), so none of them can fall
    /// into a `default` by accident.
    ///
    /// Decoding an unknown reason string throws `DecodingError.dataCorrupted` naming it: reasons
    /// are only written by this program (reports, replies), so an unknown one means a report of
    /// another version, and guessing (`internal`?) would misfile it silently.
    package enum Reason: String, CaseIterable, Sendable, Codable, CustomStringConvertible {
        /// The file could not be read (missing, permission, not a regular file).
        case unreadable
        /// Docling does not convert this type of file (`skipped` in a directory walk).
        case unsupportedFormat = "unsupported_format"
        /// Over a configured size or page limit.
        case tooLarge = "too_large"
        /// Docling could not parse the document (corrupt, truncated, backend failure).
        case parseFailed = "parse_failed"
        /// Docling did not finish the document within DOCLING_TIMEOUT_SECONDS.
        case parseTimeout = "parse_timeout"
        /// The document converted but holds no text to index.
        case emptyDocument = "empty_document"
        /// The embeddings service failed (after retries) or answered something unusable.
        case embedFailed = "embed_failed"
        /// The embeddings service rejected an input permanently (e.g. too long).
        case embedRejected = "embed_rejected"
        /// OpenSearch rejected chunks permanently (mapping errors, …).
        case indexRejected = "index_rejected"
        /// A service refused our credentials (401/403).
        case authFailed = "auth_failed"
        /// The embedding dimension does not match the index's vector field.
        case dimensionMismatch = "dimension_mismatch"
        /// A required service could not be reached (connection refused, DNS, TLS).
        case serviceUnavailable = "service_unavailable"
        /// Another process kept the source's lease (was ingesting another version of it) for
        /// longer than INGEST_LEASE_WAIT_SECONDS.
        case leaseTimeout = "lease_timeout"
        /// The source's lease was no longer ours when the document was about to write or swap
        /// (a renewal got 409, or the lease ran out): another process may be writing the source,
        /// so this one stopped. Transient: running it again takes the lease anew.
        case leaseLost = "lease_lost"
        /// The worker had no room for the document's bytes (INGEST_MAX_INFLIGHT_BODY_BYTES, held
        /// by other executions) before the execution's deadline: trying again later may work.
        case resourceUnavailable = "resource_unavailable"
        /// A setting is missing or invalid.
        case configuration
        /// Input that is not acceptable (bad shape, path outside the allowed roots, …).
        case invalidInput = "invalid_input"
        /// The run was interrupted (Ctrl-C, shutdown, client went away, deadline).
        case cancelled
        /// Anything else; a bug if seen.
        case internalError = "internal"

        package var description: String { rawValue }

        /// Encoded as the bare string (`"parse_failed"`), as reports and replies carry it.
        package init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            let text = try container.decode(String.self)
            guard let reason = Reason(rawValue: text) else {
                throw DecodingError.dataCorruptedError(
                    in: container,
                    debugDescription: "unknown failure reason '\(text)' (written by another version of ingest?); known: \(Reason.allCases.map(\.rawValue).joined(separator: ", "))"
                )
            }
            self = reason
        }

        /// Whether every later document of a run would fail the same way, so a batch stops
        /// starting new ones (exit status 2): credentials, a dimension that does not match the
        /// index, bad configuration. Not `service_unavailable`: a Docling or OpenSearch that
        /// restarts mid-batch fails a few documents, and the rest go through once it is back.
        package var isRunFatal: Bool {
            switch self {
            case .authFailed, .dimensionMismatch, .configuration:
                true
            case .unreadable, .unsupportedFormat, .tooLarge, .parseFailed, .parseTimeout, .emptyDocument, .embedFailed,
                .embedRejected, .indexRejected, .serviceUnavailable, .leaseTimeout, .leaseLost, .resourceUnavailable, .invalidInput,
                .cancelled, .internalError:
                false
            }
        }
    }

    package var reason: Reason
    package var message: String
    /// Whether trying the same operation again later may succeed (transient fault).
    package var isTransient: Bool
    /// A delay the server asked for (`Retry-After`), honoured by ``withRetries(_:clock:operation:)``.
    package var retryAfter: Duration?
    /// For batch operations: the position of the input the error is about (e.g. the one text an
    /// embeddings service refused as too long), so the caller can re-split just that one.
    package var itemIndex: Int?
    /// For `service_unavailable` from an HTTP transport: why no answer came, by type.
    package var transportFailure: TransportFailure?
    /// Set by a check made once before work starts (the embedder probe): this failure will be
    /// the same for every document, so a batch stops instead of failing each one in turn. The
    /// reason stays what it is (a worker reports an unreachable embedder as unavailable).
    package var stopsRun = false

    package init(_ reason: Reason, _ message: String, transient: Bool = false, retryAfter: Duration? = nil, itemIndex: Int? = nil, transportFailure: TransportFailure? = nil) {
        self.reason = reason
        self.message = message
        self.isTransient = transient
        self.retryAfter = retryAfter
        self.itemIndex = itemIndex
        self.transportFailure = transportFailure
    }

    package var description: String { "\(reason.rawValue): \(message)" }

    /// Errors that stop a whole run rather than one document (see ``Reason/isRunFatal``), or
    /// that a pre-flight check marked so (``stopsRun``).
    package var isRunFatal: Bool { reason.isRunFatal || stopsRun }
}

/// Replaces the `user:password@` part of URLs in `text` with `***@` and drops their signing
/// query parameters (``SigningParameters``), so messages, logs, reports and stored `source`s
/// never carry credentials or signatures.
package func redactingCredentials(_ text: String) -> String {
    var out = ""
    out.reserveCapacity(text.count)
    var rest = Substring(text)
    while let schemeRange = rest.range(of: "://") {
        out += rest[..<schemeRange.upperBound]
        rest = rest[schemeRange.upperBound...]
        // Authority ends at the first '/', '?', '#' or whitespace.
        let end = rest.firstIndex(where: { "/?# \n\t\"'".contains($0) }) ?? rest.endIndex
        let authority = rest[..<end]
        if let at = authority.lastIndex(of: "@") {
            out += "***@"
            rest = rest[rest.index(after: at)...]
        }
        // The path runs to the query; the query to a fragment, or to where the URL ends in text.
        let urlEnd = rest.firstIndex(where: SigningParameters.endsURLInText) ?? rest.endIndex
        guard let question = rest[..<urlEnd].firstIndex(of: "?"), rest[..<question].range(of: "://") == nil else { continue }
        let queryEnd = rest[question..<urlEnd].firstIndex(of: "#") ?? urlEnd
        out += rest[..<question]
        let query = SigningParameters.removed(from: rest[rest.index(after: question)..<queryEnd])
        if !query.isEmpty { out += "?" + query }
        rest = rest[queryEnd...]
    }
    out += rest
    return out
}
