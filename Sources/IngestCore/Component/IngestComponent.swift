import Foundation
import IngestKit
import Logging

/// The `ingest` component, independent of the transport that carries it: the HTTP JSON-RPC
/// worker and the gRPC transport both list it from here (``inputSchema``, ``outputSchema``),
/// hand it the step input as received (``accept(_:logger:)`` applies the component's rules, so
/// no transport checks input itself), run it with ``execute(_:blobs:logger:)`` and map its
/// typed ``ComponentFailure`` to their own error codes. Nothing here knows JSON-RPC or HTTP.
///
/// Files by job: this one runs executions; `+Schemas` describes the input and output;
/// `ComponentResult` holds the result types; `Deadline` bounds an execution in time.
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

    /// The step `input` as the component takes it, or the refusal (``ComponentFailure/refusedInput``,
    /// reason `invalid_input`, the message naming the field) when it breaks the component's
    /// rules (``ComponentInput/parse(_:)``, ``TokenBudget``, ``IndexName``). Touches neither the
    /// network nor the disk, so a transport may call it before it decides how to run the
    /// execution (the HTTP worker streams when the source is a blob).
    package func accept(_ input: JSONValue?, logger: Logger) -> Result<ComponentInput, ComponentFailure> {
        do {
            return .success(try ComponentInput.parse(input))
        } catch {
            logger.warning("execute refused: invalid input", metadata: ["error": "\(error.message)"])
            return .failure(ComponentFailure(reason: error.reason, source: "input", message: error.message, refusedInput: true))
        }
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
            let seconds = executeTimeout.wholeSeconds
            let limit = hold?.budget.limitBytes ?? 0
            logger.warning("ingest gave up waiting for room in the document budget", metadata: ["source": "\(described)", "timeout_seconds": "\(seconds)", "budget_bytes": "\(limit)"])
            return .failure(ComponentFailure(
                reason: .resourceUnavailable,
                source: described,
                message: "the worker had no room for its bytes within INGEST_EXECUTE_TIMEOUT_SECONDS (\(seconds) s): other documents held the budget of INGEST_MAX_INFLIGHT_BODY_BYTES (\(limit) bytes); retry later, add workers, or raise the budget with the memory limit"
            ))
        } catch is ExecuteDeadlineExceeded {
            let seconds = executeTimeout.wholeSeconds
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
                "document_id": "\(outcome.documentID ?? "")", "duration_ms": "\(elapsed.milliseconds)",
            ])
            return .success(ComponentOutput(outcome))
        case .failed, .skipped:
            let reason = outcome.error?.reason ?? (outcome.status == .skipped ? .unsupportedFormat : .internalError)
            let message = outcome.error?.message ?? "the document was \(outcome.status.rawValue) without a reason"
            logger.warning("ingest failed", metadata: ["source": "\(described)", "reason": "\(reason)", "error": "\(message)"])
            return .failure(ComponentFailure(reason: reason, source: outcome.source.isEmpty ? described : outcome.source, message: message, outcome: ComponentOutput(outcome)))
        }
    }
}
