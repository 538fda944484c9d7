import Foundation
import IngestKit
import Logging

/// The `ingest` component, independent of the transport that carries it: the HTTP JSON-RPC
/// worker and the gRPC transport both list it from here, parse its input with
/// ``ComponentInput/parse(_:)``, run it with ``execute(_:blobs:logger:)`` and map its typed
/// ``ComponentFailure`` to their own error codes. Nothing here knows JSON-RPC or HTTP.
package struct IngestComponent: Sendable {
    /// The component's name in the catalog (the HTTP worker serves it at `/ingest`).
    package static var name: String { "ingest" }

    package static var description: String {
        "Ingest one document (a path, an http(s) URL, base64 content or a Stepflow blob) into an OpenSearch k-NN index: Docling parses it, it is chunked by structure and tokens, embedded and indexed. Returns the document outcome; a document that cannot be ingested fails the step with the reason."
    }

    let ingester: any DocumentIngesting
    /// Bound on one execution, blob read included (INGEST_EXECUTE_TIMEOUT_SECONDS).
    package let executeTimeout: Duration
    /// The worker's budget for document bytes in flight, shared with its request bodies: each
    /// execution gets a ``BudgetHold`` in it, which URL downloads and blob reads reserve from
    /// (nil: nothing is reserved).
    package let budget: DocumentBudget?

    package init(ingester: any DocumentIngesting, executeTimeout: Duration, budget: DocumentBudget? = nil) {
        self.ingester = ingester
        self.executeTimeout = executeTimeout
        self.budget = budget
    }

    /// Runs one execution: reads the blob first when the source is one, then the pipeline, all
    /// under ``executeTimeout``. Throws only `CancellationError`, when the caller went away;
    /// every other failure is a typed ``ComponentFailure``.
    package func execute(_ input: ComponentInput, blobs: any BlobReader, logger: Logger) async throws -> ComponentResult {
        let described = input.described
        let started = ContinuousClock.now
        logger.info("ingest started", metadata: ["source": "\(described)"])

        let outcome: DocumentOutcome
        // The document's bytes stay reserved until the execution ends: the pipeline holds them
        // (conversion, hashing) until it returns. An HTTP request that carries the execution
        // brings its own hold (its body's bytes), released with its reply.
        let inherited = BudgetHold.current
        let hold = inherited ?? budget.map(BudgetHold.init)
        defer { if inherited == nil { hold?.releaseAll() } }
        do {
            let ingester = self.ingester
            outcome = try await BudgetHold.$current.withValue(hold) {
                try await withDeadline(executeTimeout) {
                    let request: IngestRequest
                    if let blob = input.blob {
                        request = try input.resolved(with: try await blobs.blob(id: blob.id))
                    } else {
                        request = input.request
                    }
                    return try await ingester.ingest(request)
                }
            }
        } catch is ExecuteDeadlineExceeded where hold?.cancelledWhileWaiting == true {
            let seconds = executeTimeout.components.seconds
            let limit = hold?.budget.limitBytes ?? 0
            logger.warning("ingest gave up waiting for room in the document budget", metadata: ["source": "\(described)", "timeout_seconds": "\(seconds)", "budget_bytes": "\(limit)"])
            return .failure(ComponentFailure(
                reason: .resourceUnavailable,
                source: described,
                message: "the worker had no room for its bytes within INGEST_EXECUTE_TIMEOUT_SECONDS (\(seconds) s): other documents held the budget of INGEST_MAX_INFLIGHT_BODY_BYTES (\(limit) bytes); retry later, add workers, or raise the budget with the memory limit"
            ))
        } catch is ExecuteDeadlineExceeded {
            let seconds = executeTimeout.components.seconds
            logger.warning("ingest timed out", metadata: ["source": "\(described)", "timeout_seconds": "\(seconds)"])
            return .failure(ComponentFailure(
                reason: .cancelled,
                source: described,
                message: "it did not finish within INGEST_EXECUTE_TIMEOUT_SECONDS (\(seconds) s) and was cancelled; split the document or raise the limit"
            ))
        } catch is CancellationError {
            logger.notice("ingest cancelled: the caller went away", metadata: ["source": "\(described)"])
            throw CancellationError()
        } catch let error as IngestError {
            logger.warning("ingest refused", metadata: ["source": "\(described)", "reason": "\(error.reason)", "error": "\(error.message)"])
            return .failure(ComponentFailure(reason: error.reason, source: described, message: error.message))
        } catch {
            // Never shown to the caller: it may be a library's internal dump.
            logger.error("ingest failed with an unexpected error", metadata: ["source": "\(described)", "error": "\(String(describing: error))"])
            return .failure(ComponentFailure(reason: .internalError, source: described, message: "an unexpected error; the worker log has the details"))
        }

        let elapsed = ContinuousClock.now - started
        switch outcome.status {
        case .indexed, .unchanged:
            logger.info("ingest finished", metadata: [
                "source": "\(described)", "status": "\(outcome.status.rawValue)", "chunks": "\(outcome.chunks)",
                "document_id": "\(outcome.documentID ?? "")", "duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ])
            return .success(ComponentOutput(outcome))
        case .failed, .skipped:
            let reason = outcome.error?.reason ?? (outcome.status == .skipped ? .unsupportedFormat : .internalError)
            let message = outcome.error?.message ?? "the document was \(outcome.status.rawValue) without a reason"
            logger.warning("ingest failed", metadata: ["source": "\(described)", "reason": "\(reason)", "error": "\(message)"])
            return .failure(ComponentFailure(reason: reason, source: outcome.source.isEmpty ? described : outcome.source, message: message, outcome: ComponentOutput(outcome)))
        }
    }

    // MARK: - Catalog

    static var string: JSONValue { ["type": "string"] }

    /// JSON Schema of the step input.
    package static var inputSchema: JSONValue {
        [
            "title": "IngestInput",
            "type": "object",
            "additionalProperties": false,
            "required": ["source"],
            "properties": [
                "source": [
                    "description": "The document: a local path or an http(s) URL, or an object with exactly one of url, path, base64 (with filename) or blob_id (a blob holding any of these, e.g. stored by /builtin/put_blob).",
                    "oneOf": [
                        ["type": "string", "minLength": 1],
                        [
                            "type": "object",
                            "additionalProperties": false,
                            "minProperties": 1,
                            "properties": [
                                "url": ["type": "string", "format": "uri"],
                                "path": ["type": "string"],
                                "base64": ["type": "string", "contentEncoding": "base64"],
                                "blob_id": ["type": "string"],
                                "filename": ["type": "string"],
                                "mimetype": ["type": "string"],
                            ],
                        ],
                    ],
                ],
                "source_key": ["type": "string", "minLength": 1, "description": "The key of uploaded content (base64 or a blob) inside its owner's upload namespace, e.g. a connector's stable document id: the chunks' source is upload:<owner or anonymous>/<key>, and re-ingesting the same owner and key replaces them. Default key: the filename. Not for paths or URLs, which are their own identity."],
                "filename": ["type": "string", "description": "File name to record (and to name base64 content)."],
                "index": ["type": "string", "description": "Target index; defaults to the configured one."],
                "owner": string,
                "owner_name": string,
                "owner_email": string,
                "connector_type": string,
                "mimetype": string,
                "options": [
                    "type": "object",
                    "additionalProperties": false,
                    "properties": [
                        "max_tokens": [
                            "type": "integer", "minimum": .int(TokenBudget.range.lowerBound), "maximum": .int(TokenBudget.range.upperBound),
                            "description": "Chunk size limit in tokens.",
                        ],
                        "docling": ["type": "object", "description": "Docling convert options merged over DOCLING_CONVERT_OPTIONS (these win)."],
                    ],
                ],
            ],
        ]
    }

    /// JSON Schema of the step output (a `DocumentOutcome` that succeeded).
    package static var outputSchema: JSONValue {
        [
            "title": "IngestOutput",
            "type": "object",
            "required": ["source", "status", "chunks", "warnings"],
            "properties": [
                "source": string,
                "document_id": string,
                "filename": string,
                "status": ["type": "string", "enum": ["indexed", "unchanged"]],
                "chunks": ["type": "integer", "minimum": 0],
                "index": string,
                "pages": ["type": "integer", "minimum": 0, "description": "Absent when the format has no pages."],
                "warnings": ["type": "array", "items": ["type": "string"]],
                "timings": [
                    "type": "object",
                    "description": "Seconds per stage.",
                    "properties": [
                        "convert": ["type": "number"], "chunk": ["type": "number"],
                        "embed": ["type": "number"], "index": ["type": "number"],
                    ],
                ],
            ],
        ]
    }
}

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

    package init(reason: IngestError.Reason, source: String, message: String, outcome: ComponentOutput? = nil) {
        self.reason = reason
        self.source = source
        self.message = message
        self.outcome = outcome
    }
}

/// Thrown inside ``withDeadline(_:_:)`` when the deadline passes first.
struct ExecuteDeadlineExceeded: Error {}

/// Runs `operation`, cancelling it and throwing ``ExecuteDeadlineExceeded`` if it is still running
/// after `limit`.
func withDeadline<T: Sendable>(_ limit: Duration, _ operation: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T.self) { group in
        group.addTask { try await operation() }
        group.addTask {
            try await Task.sleep(for: limit)
            throw ExecuteDeadlineExceeded()
        }
        defer { group.cancelAll() }
        guard let first = try await group.next() else { throw CancellationError() }
        return first
    }
}
