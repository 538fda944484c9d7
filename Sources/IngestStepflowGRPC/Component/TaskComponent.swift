import Foundation
import IngestKit

/// The component a pull worker serves, independent of the transport: the gRPC task runner only
/// needs its catalog and one call per `execute` task. The adapter to today's `IngestExecutor`
/// lives in `IngestTaskComponent.swift`; a transport-independent ingest component can replace it
/// by conforming to this protocol.
package protocol TaskComponent: Sendable {
    /// What `list_components` tasks answer.
    var catalog: [ComponentDescription] { get }

    /// Runs one execution of `componentID` (one of the catalog's ids) on `input`, reading blob
    /// sources through `blobs`. Returns the step output or a typed failure; never throws except
    /// `CancellationError` when the task was cancelled (the orchestrator asked to abort).
    func execute(
        componentID: String,
        input: JSONValue,
        blobs: some BlobReader,
        context: ExecutionContext
    ) async throws(CancellationError) -> Result<JSONValue, ComponentFailure>
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

/// Why an execution failed: the reason decides the `TaskErrorCode` (``TaskErrorMapping``), the
/// message is the sentence a person gets over HTTP, the source names the document.
package struct ComponentFailure: Error, Sendable, Equatable {
    package var reason: IngestError.Reason
    /// A log-safe name of the document (path, URL without credentials, blob id).
    package var source: String
    package var message: String
    /// Extra structured details for `TaskError.data` (e.g. the document outcome).
    package var details: [String: JSONValue]

    package init(reason: IngestError.Reason, source: String, message: String, details: [String: JSONValue] = [:]) {
        self.reason = reason
        self.source = source
        self.message = message
        self.details = details
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

/// The content of a Stepflow blob.
package enum BlobContent: Sendable, Equatable {
    /// A JSON blob (`json_data`, as `/builtin/put_blob` stores it): an object of the `source` shape.
    case json(JSONValue)
    /// A binary blob (`raw_data`): the document's bytes, ingested as inline content.
    case raw(bytes: Data, filename: String?, contentType: String?)
}

/// Reads blobs for `blob_id` sources (gRPC `BlobService.GetBlob`, or the REST blob API of 0.10/0.11).
package protocol BlobReader: Sendable {
    /// The blob `id`. Throws `IngestError` saying what failed (missing blob, service unreachable).
    func blob(_ id: String) async throws(IngestError) -> BlobContent
}
