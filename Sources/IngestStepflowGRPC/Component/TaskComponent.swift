import Foundation
import IngestCore
import IngestKit
import SwiftProtobuf

/// What the pull worker serves: the gRPC task runner only needs a catalog and one call per
/// `execute` task, so its tests run it over a fake. `IngestTaskComponent` is the real one, over
/// IngestCore's transport-independent ``IngestComponent``; blobs (``BlobReader``,
/// ``BlobContent``) and failures (``ComponentFailure``) are IngestCore's types too.
package protocol TaskComponent: Sendable {
    /// What `list_components` tasks answer.
    var catalog: [ComponentDescription] { get }

    /// Runs one execution of `componentID` (one of the catalog's ids) on `input`, reading blob
    /// sources through `blobs`. Returns the step output, already shaped as the protobuf value
    /// `CompleteTask` carries, or a typed failure; never throws except `CancellationError` when
    /// the task was cancelled (the orchestrator asked to abort).
    /// - Parameter inputBytes: the size of the assignment that carried `input`, as received: the
    ///   bytes the worker holds for it, which the execution counts in the document budget.
    func execute(
        componentID: String,
        input: JSONValue,
        inputBytes: Int,
        blobs: some BlobReader,
        context: ExecutionContext
    ) async throws(CancellationError) -> Result<Google_Protobuf_Value, ComponentFailure>
}

/// One entry of the catalog, as `ComponentInfo` carries it (the schemas are JSON values here and
/// JSON strings on the wire).
package struct ComponentDescription: Sendable, Equatable {
    /// The id `execute` tasks name, without a leading slash (`ingest`).
    package var componentID: String
    /// The path the orchestrator mounts under the plugin's route prefix (`/ingest`).
    package var path: String
    package var description: String
    package var inputSchema: JSONValue
    package var outputSchema: JSONValue

    package init(componentID: String, path: String, description: String, inputSchema: JSONValue, outputSchema: JSONValue) {
        self.componentID = componentID
        self.path = path
        self.description = description
        self.inputSchema = inputSchema
        self.outputSchema = outputSchema
    }
}

/// What one execution knows about its task, for logs and idempotency.
package struct ExecutionContext: Sendable, Equatable {
    package var taskID: String
    package var runID: String?
    /// The run at the root of a sub-flow tree (`context.root_run_id`); the orchestrator owns runs
    /// by their root, so lookups use it first.
    package var rootRunID: String?
    package var flowID: String?
    package var stepID: String?
    package var traceID: String?
    /// 1-based; grows when the orchestrator retries or reassigns the task.
    package var attempt: Int

    package init(taskID: String, runID: String? = nil, rootRunID: String? = nil, flowID: String? = nil, stepID: String? = nil, traceID: String? = nil, attempt: Int = 1) {
        self.taskID = taskID
        self.runID = runID
        self.rootRunID = rootRunID
        self.flowID = flowID
        self.stepID = stepID
        self.traceID = traceID
        self.attempt = attempt
    }
}
