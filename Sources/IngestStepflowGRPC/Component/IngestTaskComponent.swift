import Foundation
import IngestCore
import IngestKit
import IngestServer
import Logging

/// The `ingest` component over today's `IngestExecutor` (the HTTP transport's), so both
/// transports run the same parsing, pipeline, deadline and messages. This file is the only place
/// that knows the executor: when a transport-independent component exists, conform it to
/// ``TaskComponent`` and delete this adapter.
package struct IngestTaskComponent<Ingester: DocumentIngesting>: TaskComponent {
    let executor: IngestExecutor<Ingester>
    let logger: Logger

    package init(ingester: Ingester, metrics: WorkerMetrics, executeTimeout: Duration, logger: Logger) {
        self.executor = IngestExecutor(ingester: ingester, metrics: metrics, executeTimeout: executeTimeout)
        self.logger = logger
    }

    /// The catalog `components/list` serves over HTTP, with the id an `execute` task names.
    package var catalog: [ComponentDescription] {
        guard case .string(let description) = ComponentCatalog.info(ComponentCatalog.ingest)?["description"] ?? .null else { return [] }
        return [ComponentDescription(
            componentID: String(ComponentCatalog.ingest.dropFirst()),
            path: ComponentCatalog.ingest,
            description: description,
            inputSchema: ComponentCatalog.inputSchema,
            outputSchema: ComponentCatalog.outputSchema
        )]
    }

    package func execute(componentID: String, input: JSONValue, blobs: some BlobReader, context: ExecutionContext) async throws(CancellationError) -> Result<JSONValue, ComponentFailure> {
        var logger = self.logger
        logger[metadataKey: "task_id"] = "\(context.taskID)"
        for (key, value) in [("run_id", context.runID), ("flow_id", context.flowID), ("step_id", context.stepID), ("trace_id", context.traceID)] {
            if let value { logger[metadataKey: key] = "\(value)" }
        }
        logger[metadataKey: "attempt"] = "\(context.attempt)"

        let parsed: IngestInput
        do {
            parsed = try IngestInput.parse(input)
        } catch {
            logger.warning("execute refused: invalid input", metadata: ["error": "\(error.message)"])
            return .failure(ComponentFailure(reason: .invalidInput, source: "input", message: "Invalid input for /ingest: \(error.message)"))
        }
        // The executor reads blobs as the JSON of a `source`; a binary blob becomes base64 content
        // under its file name (the transport-independent component takes `.raw` as it is).
        let fetch: IngestExecutor<Ingester>.BlobFetcher = { blobID in
            switch try await blobs.blob(blobID) {
            case .json(let value):
                return value
            case .raw(let bytes, let filename, let contentType):
                var object: [String: JSONValue] = ["base64": .string(bytes.base64EncodedString())]
                if let filename { object["filename"] = .string(filename) }
                if let contentType { object["mimetype"] = .string(contentType) }
                return .object(object)
            }
        }
        let result: Result<JSONValue, JSONRPCError>
        do {
            result = try await executor.execute(parsed, fetchBlob: fetch, logger: logger)
        } catch {
            throw CancellationError()
        }
        return result.mapError { error in
            var details = error.data?.objectValue ?? [:]
            let reason = details.removeValue(forKey: "reason")?.stringValue.map(IngestError.Reason.init(rawValue:)) ?? .internalError
            let source = details.removeValue(forKey: "source")?.stringValue ?? IngestInput.describe(parsed.source, filename: parsed.filename)
            return ComponentFailure(reason: reason, source: source, message: error.message, details: details)
        }
    }
}
