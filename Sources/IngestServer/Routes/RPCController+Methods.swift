import Foundation
import Hummingbird
import IngestCore
import IngestKit
import IngestWorker
import Logging
import NIOCore

/// The JSON-RPC methods: `initialize`, the component catalog, and `components/execute` handed to
/// the execute paths.
extension RPCController {
    func dispatch(id: JSONRPCID, method: String, params: JSONValue?, channel: (any Channel)?, logger: Logger) async throws -> Response {
        var logger = logger
        logger[metadataKey: "rpc_id"] = "\(id)"
        logger[metadataKey: "method"] = "\(method)"
        switch method {
        case "initialize":
            metrics.recordRPC(method: method, outcome: "ok")
            let named = params?["capabilities"]?["blobApiUrl"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
            if let named { rpc.blobAPIFromInitialize = named }
            let blobAPI = configuration.blobAPI(fromInitialize: rpc.blobAPIFromInitialize)
            if named != nil, case .refused(let url) = blobAPI {
                logger.warning("initialize named a blob API whose origin is not allowed: blob_id sources will fail; set STEPFLOW_BLOB_API_URL to the orchestrator's blob API, or add its origin to STEPFLOW_BLOB_API_ALLOW", metadata: ["blob_api": "\(redactingCredentials(url))"])
            }
            logger.info("initialize", metadata: ["instance_id": "\(state.instanceID)", "blob_api": "\(Self.describe(blobAPI))"])
            // Both spellings: 0.9 reads snake_case, 0.10/0.11 camelCase.
            return reply(id, .success(["server_protocol_version": 1, "serverProtocolVersion": 1]), method: method)
        case "components/list":
            return reply(id, .success(["components": .array(ComponentCatalog.all)]), method: method)
        case "components/info", "components/infer_schema":
            return reply(id, componentLookup(method: method, params: params), method: method)
        case "components/execute":
            return try await execute(id: id, params: params, channel: channel, logger: logger)
        default:
            return reply(id, .failure(.methodNotFound(method)), method: "unknown")
        }
    }

    /// The blob route for the `initialize` log line.
    static func describe(_ choice: BlobAPIChoice) -> String {
        switch choice {
        case .rest(let url): redactingCredentials(url)
        case .refused(let url): "refused: \(redactingCredentials(url)) (origin not in STEPFLOW_BLOB_API_ALLOW)"
        case .callback: "none (blobs/get over SSE)"
        }
    }

    func componentLookup(method: String, params: JSONValue?) -> Result<JSONValue, JSONRPCError> {
        guard let name = params?["component"]?.stringValue else {
            return .failure(.invalidParams("\(method) needs params.component, a string such as \"/ingest\""))
        }
        guard let info = ComponentCatalog.info(name) else { return .failure(Self.componentNotFound(name)) }
        if method == "components/info" { return .success(["info": info]) }
        return .success(["output_schema": info["output_schema"] ?? .null])
    }

    static func componentNotFound(_ name: String) -> JSONRPCError {
        JSONRPCError(
            code: JSONRPCError.componentNotFoundCode,
            message: "Component '\(name)' not found; this worker serves \(ComponentCatalog.ingest) (flow step component: /langflow/ingest)",
            data: ["component": .string(name)]
        )
    }
}
