import Foundation
import IngestCore
import IngestKit
import IngestServer
import Logging

/// The `ingest` component for the pull worker: IngestCore's transport-independent
/// ``IngestComponent`` (the same parsing, pipeline, deadline and messages the HTTP worker runs),
/// with the worker's metrics and the task's ids in its logs.
package struct IngestTaskComponent: TaskComponent {
    let component: IngestComponent
    let metrics: WorkerMetrics
    let logger: Logger

    /// - Parameter budget: the worker's budget for document bytes in flight (URL downloads and
    ///   blob reads reserve from it), as the HTTP worker's; nil reserves nothing.
    package init(ingester: any DocumentIngesting, metrics: WorkerMetrics, executeTimeout: Duration, budget: DocumentBudget? = nil, logger: Logger) {
        self.component = IngestComponent(ingester: ingester, executeTimeout: executeTimeout, budget: budget)
        self.metrics = metrics
        self.logger = logger
    }

    /// The catalog `components/list` serves over HTTP, with the id an `execute` task names.
    package var catalog: [ComponentDescription] {
        [ComponentDescription(
            componentID: IngestComponent.name,
            path: "/" + IngestComponent.name,
            description: IngestComponent.description,
            inputSchema: IngestComponent.inputSchema,
            outputSchema: IngestComponent.outputSchema
        )]
    }

    package func execute(componentID: String, input: JSONValue, blobs: some BlobReader, context: ExecutionContext) async throws(CancellationError) -> Result<JSONValue, ComponentFailure> {
        var logger = self.logger
        logger[metadataKey: "task_id"] = "\(context.taskID)"
        for (key, value) in [("run_id", context.runID), ("flow_id", context.flowID), ("step_id", context.stepID), ("trace_id", context.traceID)] {
            if let value { logger[metadataKey: key] = "\(value)" }
        }
        logger[metadataKey: "attempt"] = "\(context.attempt)"

        let result: ComponentResult
        do {
            result = try await component.execute(input, blobs: blobs, logger: logger, metrics: metrics)
        } catch {
            throw CancellationError()
        }
        switch result {
        case .success(let output):
            do {
                return .success(try JSONDecoder().decode(JSONValue.self, from: output.json))
            } catch {
                logger.error("the outcome could not be read back", metadata: ["error": "\(error)"])
                return .failure(ComponentFailure(reason: .internalError, source: output.outcome.source, message: "the worker could not encode its own output; the worker log has the details"))
            }
        case .failure(let failure):
            return .failure(failure)
        }
    }
}
