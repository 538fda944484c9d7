import Foundation
import IngestCore
import IngestKit
import IngestWorker
import Logging
import SwiftProtobuf

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

    /// The catalog `components/list` serves over HTTP (``ComponentCatalog``), with the id an
    /// `execute` task names.
    package var catalog: [ComponentDescription] {
        [ComponentDescription(
            componentID: IngestComponent.name,
            path: ComponentCatalog.ingest,
            description: IngestComponent.description,
            inputSchema: IngestComponent.inputSchema,
            outputSchema: IngestComponent.outputSchema
        )]
    }

    package func execute(
        componentID: String, input: JSONValue, inputBytes: Int, blobs: some BlobReader, context: ExecutionContext
    ) async throws(CancellationError) -> Result<Google_Protobuf_Value, ComponentFailure> {
        var logger = self.logger
        logger[metadataKey: "task_id"] = "\(context.taskID)"
        for (key, value) in [("run_id", context.runID), ("flow_id", context.flowID), ("step_id", context.stepID), ("trace_id", context.traceID)] {
            if let value { logger[metadataKey: key] = "\(value)" }
        }
        logger[metadataKey: "attempt"] = "\(context.attempt)"

        let parsed: ComponentInput
        switch component.accept(input, logger: logger, metrics: metrics) {
        case .success(let accepted): parsed = accepted
        case .failure(let refusal): return .failure(refusal)
        }
        // The assignment's bytes are in memory since it was received: they count in the document
        // budget first, as an HTTP execute's body does, and the execution's own document (URL
        // download, blob) is added to the same hold. The wait is bounded: the budget's holders
        // are executions under their own deadlines, served in order.
        let hold = component.budget.map(BudgetHold.init)
        defer { hold?.releaseAll() }
        do {
            try await hold?.reserve(upTo: inputBytes)
        } catch {
            throw CancellationError()
        }
        let result: ComponentResult
        do {
            let component = self.component
            let metrics = self.metrics
            result = try await BudgetHold.$current.withValue(hold) {
                try await component.execute(parsed, blobs: blobs, logger: logger, metrics: metrics)
            }
        } catch {
            throw CancellationError()
        }
        switch result {
        case .success(let output):
            do {
                return .success(try ProtobufValueEncoder().encode(output.outcome))
            } catch {
                logger.error("the outcome could not be encoded", metadata: ["error": "\(error)"])
                return .failure(ComponentFailure(reason: .internalError, source: output.outcome.source, message: "the worker could not encode its own output; the worker log has the details"))
            }
        case .failure(let failure):
            return .failure(failure)
        }
    }
}
