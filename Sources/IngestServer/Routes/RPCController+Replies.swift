import Foundation
import HTTPTypes
import Hummingbird
import IngestKit
import IngestWorker
import NIOCore

/// JSON replies and the request counter's labels.
extension RPCController {
    func reply(_ id: JSONRPCID, _ result: Result<JSONValue, JSONRPCError>, method: String) -> Response {
        let outcome: String
        if case .success = result { outcome = "ok" } else { outcome = "error" }
        metrics.recordRPC(method: Self.metricName(method), outcome: outcome)
        return Self.json(Self.message(id, result), status: .ok)
    }

    static func message(_ id: JSONRPCID, _ result: Result<JSONValue, JSONRPCError>) -> JSONValue {
        switch result {
        case .success(let value): JSONRPCEncoder.result(id: id, value)
        case .failure(let error): JSONRPCEncoder.error(id: id, error)
        }
    }

    static func json(_ message: JSONValue, status: HTTPResponse.Status) -> Response {
        json(message.jsonData(), status: status)
    }

    static func json(_ data: Data, status: HTTPResponse.Status) -> Response {
        Response(
            status: status,
            headers: [.contentType: "application/json", .contentLength: String(data.count)],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: data))
        )
    }

    /// Keeps the `method` label of the request counter to the known set.
    static func metricName(_ method: String) -> String {
        switch method {
        case "initialize", "initialized", "components/list", "components/info", "components/infer_schema", "components/execute": method
        default: "other"
        }
    }
}
