import IngestCore
import IngestKit
import Logging
import SwiftProtobuf

/// Runs the component for one `execute` task and shapes what `CompleteTask` carries: the
/// component's output, or the `TaskError` of its failure, an unknown component or an input over
/// INGEST_MAX_BODY_BYTES. No orchestrator calls here (``TaskRunner`` makes them).
struct TaskExecution<Component: TaskComponent, Blobs: BlobReader>: Sendable {
    let component: Component
    let blobs: Blobs
    /// INGEST_MAX_BODY_BYTES.
    let maxInputBytes: Int

    /// The result to report, or nil when the execution was cancelled (abort or shutdown).
    /// - Parameter receivedBytes: the assignment's size as received (its input is most of it).
    func result(_ execute: Stepflow_V1_ComponentExecuteRequest, receivedBytes: Int, context: ExecutionContext, logger: Logger) async -> Stepflow_V1_CompleteTaskRequest.OneOf_Result? {
        let catalog = component.catalog
        let requested = execute.componentID.hasPrefix("/") ? String(execute.componentID.dropFirst()) : execute.componentID
        guard catalog.contains(where: { $0.componentID == requested }) else {
            logger.warning("execute refused: unknown component")
            return .error(TaskErrorMapping.componentNotFound(execute.componentID, served: catalog.map(\.componentID)))
        }
        if receivedBytes > maxInputBytes {
            logger.warning("execute refused: input too large", metadata: ["bytes": "\(receivedBytes)"])
            return .error(TaskErrorMapping.taskError(ComponentFailure(
                reason: .invalidInput,
                source: "task \(context.taskID)",
                message: "Invalid input for /\(requested): the task with its step input is \(receivedBytes) bytes, over INGEST_MAX_BODY_BYTES (\(maxInputBytes) bytes); store the document as a blob and pass its blob_id, or raise INGEST_MAX_BODY_BYTES"
            )))
        }
        let input = execute.hasInput ? ProtobufJSON.json(execute.input) : .null
        let result: Result<Google_Protobuf_Value, ComponentFailure>
        do {
            result = try await component.execute(componentID: requested, input: input, inputBytes: receivedBytes, blobs: blobs, context: context)
        } catch {
            return nil
        }
        if Task.isCancelled { return nil }
        switch result {
        case .success(let output):
            var response = Stepflow_V1_ComponentExecuteResponse()
            response.output = output
            return .response(response)
        case .failure(let failure):
            return .error(TaskErrorMapping.taskError(failure))
        }
    }

    /// What one execution knows about its task.
    static func context(_ taskID: String, _ execute: Stepflow_V1_ComponentExecuteRequest, rootRunID: String) -> ExecutionContext {
        let observability = execute.observability
        func nonEmpty(_ has: Bool, _ value: String) -> String? { has && !value.isEmpty ? value : nil }
        return ExecutionContext(
            taskID: taskID,
            runID: nonEmpty(observability.hasRunID, observability.runID),
            rootRunID: rootRunID.isEmpty ? nil : rootRunID,
            flowID: nonEmpty(observability.hasFlowID, observability.flowID),
            stepID: nonEmpty(observability.hasStepID, observability.stepID),
            traceID: nonEmpty(observability.hasTraceID, observability.traceID),
            attempt: Int(max(1, execute.attempt))
        )
    }

    /// The catalog entry as `list_components` answers it.
    static func componentInfo(_ description: ComponentDescription) -> Stepflow_V1_ComponentInfo {
        var info = Stepflow_V1_ComponentInfo()
        info.componentID = description.componentID
        info.path = description.path
        info.description_p = description.description
        info.inputSchema = description.inputSchema.jsonString()
        info.outputSchema = description.outputSchema.jsonString()
        return info
    }
}

