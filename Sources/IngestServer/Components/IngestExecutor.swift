import Foundation
import IngestCore
import IngestKit
import Logging

/// Runs one `/ingest` execution: resolves a blob source, calls the pipeline under the execute
/// deadline, and turns the outcome into the step output or a JSON-RPC error a person can act on.
/// It knows nothing about HTTP; the controller decides JSON or SSE.
package struct IngestExecutor<Ingester: DocumentIngesting>: Sendable {
    /// Fetches the content of a Stepflow blob (a `blobs/get` callback over SSE).
    package typealias BlobFetcher = @Sendable (_ blobID: String) async throws -> JSONValue

    let ingester: Ingester
    let metrics: WorkerMetrics
    let executeTimeout: Duration

    /// An executor over `ingester`, each execution bounded by `executeTimeout`.
    package init(ingester: Ingester, metrics: WorkerMetrics, executeTimeout: Duration) {
        self.ingester = ingester
        self.metrics = metrics
        self.executeTimeout = executeTimeout
    }

    /// Executes `input`; the result is the step `output` or the error to reply with. Throws only
    /// `CancellationError`, when the orchestrator's connection went away.
    package func execute(_ input: IngestInput, fetchBlob: @escaping BlobFetcher, logger: Logger) async throws -> Result<JSONValue, JSONRPCError> {
        let described = IngestInput.describe(input.source, filename: input.filename ?? input.sourceFilename)
        let started = ContinuousClock.now
        metrics.executeStarted()
        defer { metrics.executeFinished() }
        logger.info("ingest started", metadata: ["source": "\(described)"])

        let outcome: DocumentOutcome
        do {
            let ingester = self.ingester
            outcome = try await withDeadline(executeTimeout) {
                let request = try await Self.resolve(input, fetchBlob: fetchBlob)
                return try await ingester.ingest(request)
            }
        } catch is ExecuteDeadlineExceeded {
            let seconds = executeTimeout.components.seconds
            metrics.recordFailure(reason: IngestError.Reason.cancelled.rawValue)
            logger.warning("ingest timed out", metadata: ["source": "\(described)", "timeout_seconds": "\(seconds)"])
            return .failure(Self.failure(
                reason: .cancelled,
                source: described,
                message: "it did not finish within INGEST_EXECUTE_TIMEOUT_SECONDS (\(seconds) s) and was cancelled; split the document or raise the limit"
            ))
        } catch is CancellationError {
            metrics.recordFailure(reason: IngestError.Reason.cancelled.rawValue)
            logger.notice("ingest cancelled: the orchestrator closed the connection", metadata: ["source": "\(described)"])
            throw CancellationError()
        } catch let error as IngestError {
            metrics.recordFailure(reason: error.reason.rawValue)
            logger.warning("ingest refused", metadata: ["source": "\(described)", "reason": "\(error.reason)", "error": "\(error.message)"])
            return .failure(Self.failure(reason: error.reason, source: described, message: error.message))
        } catch {
            metrics.recordFailure(reason: IngestError.Reason.internalError.rawValue)
            logger.error("ingest failed with an unexpected error", metadata: ["source": "\(described)", "error": "\(String(describing: error))"])
            return .failure(JSONRPCError(
                code: JSONRPCError.internalErrorCode,
                message: "Internal error while ingesting '\(described)'; the worker log has the details",
                data: ["reason": .string(IngestError.Reason.internalError.rawValue), "source": .string(described)]
            ))
        }

        metrics.recordOutcome(outcome)
        let elapsed = ContinuousClock.now - started
        switch outcome.status {
        case .indexed, .unchanged:
            logger.info("ingest finished", metadata: [
                "source": "\(described)", "status": "\(outcome.status.rawValue)", "chunks": "\(outcome.chunks)",
                "document_id": "\(outcome.documentID ?? "")", "duration_ms": "\(elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000)",
            ])
            return .success(Self.json(outcome))
        case .failed, .skipped:
            let reason = outcome.error?.reason ?? (outcome.status == .skipped ? IngestError.Reason.unsupportedFormat.rawValue : IngestError.Reason.internalError.rawValue)
            let message = outcome.error?.message ?? "the document was \(outcome.status.rawValue) without a reason"
            logger.warning("ingest failed", metadata: ["source": "\(described)", "reason": "\(reason)", "error": "\(message)"])
            var error = Self.failure(reason: IngestError.Reason(rawValue: reason), source: outcome.source.isEmpty ? described : outcome.source, message: message)
            if case .object(var data) = error.data ?? .null {
                data["outcome"] = Self.json(outcome)
                error.data = .object(data)
            }
            return .failure(error)
        }
    }

    /// Turns the input into a pipeline request, fetching the blob first when the source is one.
    static func resolve(_ input: IngestInput, fetchBlob: @escaping BlobFetcher) async throws -> IngestRequest {
        guard case .blob(let blobID) = input.source else {
            return try input.request(source: input.source, sourceFilename: input.sourceFilename, sourceMimetype: input.sourceMimetype)
        }
        let content = try await fetchBlob(blobID)
        let parsed = try IngestInput.parseBlobContent(content, blobID: blobID)
        return try input.request(
            source: parsed.source,
            sourceFilename: parsed.filename ?? input.sourceFilename,
            sourceMimetype: parsed.mimetype ?? input.sourceMimetype
        )
    }

    /// The JSON-RPC error for a document that could not be ingested: invalid input is -32602
    /// (the flow must change), everything else -32003, the code the Stepflow SDK uses for a
    /// failed component. The orchestrator shows `component server error(<code>): <message>`.
    package static func failure(reason: IngestError.Reason, source: String, message: String) -> JSONRPCError {
        let data: JSONValue = ["reason": .string(reason.rawValue), "source": .string(source)]
        if reason == .invalidInput {
            return JSONRPCError(code: JSONRPCError.invalidParamsCode, message: "Invalid input for /ingest (source '\(source)'): \(message)", data: data)
        }
        return JSONRPCError(code: JSONRPCError.executionFailedCode, message: "Ingest failed for '\(source)' [\(reason.rawValue)]: \(message)", data: data)
    }

    /// The outcome as the step output: snake_case keys, `pages` and `error` absent when nil.
    package static func json(_ outcome: DocumentOutcome) -> JSONValue {
        guard let data = try? JSONEncoder().encode(outcome), let value = try? JSONDecoder().decode(JSONValue.self, from: data) else {
            return ["source": .string(outcome.source), "status": .string(outcome.status.rawValue), "chunks": .int(outcome.chunks)]
        }
        return value
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
