import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import IngestCore
import IngestKit
import IngestWorker
import Logging
import NIOCore

/// `components/execute`: a JSON reply when the input needs no callback, else an SSE stream that
/// carries `blobs/get` out and the final reply last.
extension RPCController {
    func execute(id: JSONRPCID, params: JSONValue?, channel: (any Channel)?, logger: Logger) async throws -> Response {
        guard case .object(let fields) = params ?? .null else {
            return reply(id, .failure(.invalidParams("components/execute needs params {component, input}")), method: "components/execute")
        }
        guard case .string(let component) = fields["component"] ?? .null else {
            return reply(id, .failure(.invalidParams("params.component must be a string such as \"/ingest\"")), method: "components/execute")
        }
        guard component == ComponentCatalog.ingest else {
            return reply(id, .failure(Self.componentNotFound(component)), method: "components/execute")
        }
        var logger = logger
        logger[metadataKey: "component"] = "\(component)"
        let observability = fields["observability"]
        for key in ["run_id", "flow_id", "step_id", "trace_id", "span_id"] {
            if let value = observability?[key]?.stringValue { logger[metadataKey: key] = "\(value)" }
        }

        let input: ComponentInput
        switch self.component.accept(fields["input"], logger: logger, metrics: metrics) {
        case .success(let accepted): input = accepted
        case .failure(let refusal): return reply(id, .failure(JSONRPCError(executionFailure: refusal)), method: "components/execute")
        }

        // Cancel the document when the orchestrator's connection goes away.
        let closeSignal = if let channel { await ConnectionCloseWatcher.signal(of: channel) } else { ConnectionCloseSignal?.none }
        if input.blob != nil {
            return streamExecute(id: id, input: input, observability: observability, closeSignal: closeSignal, logger: logger)
        }
        let run = self.run
        let executeLogger = logger
        let result: ComponentResult
        do {
            result = try await cancellingOnClose(closeSignal) {
                try await run(input, NoBlobs(), executeLogger)
            }
        } catch {
            metrics.recordRPC(method: "components/execute", outcome: "cancelled")
            return Response(status: .noContent)
        }
        let outcome: String
        if case .success = result { outcome = "ok" } else { outcome = "error" }
        metrics.recordRPC(method: "components/execute", outcome: outcome)
        return Self.json(ExecuteReply.data(id, result), status: .ok)
    }

    /// One execution with the worker's metrics around it.
    var run: @Sendable (ComponentInput, any BlobReader, Logger) async throws -> ComponentResult {
        let component = self.component
        let metrics = self.metrics
        return { input, blobs, logger in try await component.execute(input, blobs: blobs, logger: logger, metrics: metrics) }
    }

    /// The SSE path: stream `blobs/get` to the orchestrator, wait for its reply POST (routed here
    /// by instance id), ingest, then send the final response event and end the stream.
    func streamExecute(id: JSONRPCID, input: ComponentInput, observability: JSONValue?, closeSignal: ConnectionCloseSignal?, logger: Logger) -> Response {
        let run = self.run
        let callbacks = rpc.callbacks
        let callbackTimeout = configuration.callbackTimeout
        let metrics = self.metrics
        let budget = self.budget
        let blobAPI = configuration.blobAPI(fromInitialize: rpc.blobAPIFromInitialize)
        let headers: HTTPFields = [
            .contentType: "text/event-stream",
            .cacheControl: "no-cache",
            Self.instanceHeader: state.instanceID,
        ]
        return Response(status: .ok, headers: headers, body: ResponseBody { writer in
            let (events, sink) = AsyncStream.makeStream(of: JSONValue.self)
            let final: FinalReply? = try? await withThrowingTaskGroup(of: FinalReply.self) { group in
                group.addTask {
                    defer { sink.finish() }
                    // The request's reservation ended with its response head: this execution
                    // holds its document's bytes (a blob from the orchestrator's reply POST, a
                    // URL download) in a hold of its own until it ends.
                    let hold = BudgetHold(budget: budget)
                    defer { hold.releaseAll() }
                    // Stepflow 0.10/0.11 answer no `blobs/get` over SSE: their REST blob API, when
                    // configured (STEPFLOW_BLOB_API_URL, or initialize's blobApiUrl on an allowed
                    // origin); 0.9 the callback.
                    let blobs: any BlobReader = switch blobAPI {
                    case .rest(let url): RESTBlobReader(transport: BlobAPIClient.transport(for: budget), baseURL: url)
                    case .refused(let url): RefusedBlobReader(named: url)
                    case .callback: CallbackBlobReader(observability: observability, callbacks: callbacks, timeout: callbackTimeout, send: { sink.yield($0) }, logger: logger, hold: hold)
                    }
                    let result = try await BudgetHold.$current.withValue(hold) {
                        try await cancellingOnClose(closeSignal) {
                            try await run(input, blobs, logger)
                        }
                    }
                    let ok: Bool
                    if case .success = result { ok = true } else { ok = false }
                    return FinalReply(data: ExecuteReply.data(id, result), ok: ok)
                }
                for await event in events {
                    try await writer.write(ByteBuffer(bytes: JSONRPCEncoder.sseEvent(event)))
                }
                guard let final = try await group.next() else { throw CancellationError() }
                return final
            }
            guard let final else {
                metrics.recordRPC(method: "components/execute", outcome: "cancelled")
                return
            }
            metrics.recordRPC(method: "components/execute", outcome: final.ok ? "ok" : "error")
            try await writer.write(ByteBuffer(bytes: JSONRPCEncoder.sseEvent(data: final.data)))
            try await writer.finish(nil)
        })
    }
}

/// The last SSE event of an execution, encoded, and whether it is a success.
struct FinalReply: Sendable {
    var data: Data
    var ok: Bool
}
