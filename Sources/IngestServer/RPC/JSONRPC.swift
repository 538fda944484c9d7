import Foundation
import IngestKit

/// A JSON-RPC id. Stepflow sends UUID strings; integers are legal too and must be echoed as they came.
package enum JSONRPCID: Sendable, Hashable, CustomStringConvertible {
    case string(String)
    case int(Int)

    /// Reads an id from a message field; nil for any other JSON type.
    package init?(_ value: JSONValue) {
        switch value {
        case .string(let s): self = .string(s)
        case .int(let i): self = .int(i)
        default: return nil
        }
    }

    /// The id as it goes back on the wire.
    package var json: JSONValue {
        switch self {
        case .string(let s): .string(s)
        case .int(let i): .int(i)
        }
    }

    /// The id as text, for logs and messages.
    package var description: String {
        switch self {
        case .string(let s): s
        case .int(let i): String(i)
        }
    }
}

/// A JSON-RPC error object. `message` is what a person reads in the failed step, so it says what
/// failed and why; `data` carries the machine-readable reason (Stepflow 0.9 drops it, our logs keep it).
package struct JSONRPCError: Error, Sendable, Equatable {
    /// The JSON-RPC error code (see the constants below).
    package var code: Int
    /// What failed, for which source, and why: shown in the failed step.
    package var message: String
    /// Machine-readable details (`reason`, `source`).
    package var data: JSONValue?

    /// An error object with an optional `data` member.
    package init(code: Int, message: String, data: JSONValue? = nil) {
        self.code = code
        self.message = message
        self.data = data
    }

    /// The body was not JSON.
    package static let parseErrorCode = -32700
    /// The body was JSON but not a JSON-RPC message (or too large to read).
    package static let invalidRequestCode = -32600
    /// A method this worker does not implement.
    package static let methodNotFoundCode = -32601
    /// Params or component input of the wrong shape or type, or refused (path outside the roots).
    package static let invalidParamsCode = -32602
    /// A bug in the worker.
    package static let internalErrorCode = -32603
    /// Unknown component; the code the Stepflow Python SDK uses (captures, session 2).
    package static let componentNotFoundCode = -32001
    /// The component ran and failed; the code the Stepflow Python SDK uses (captures, session 2).
    package static let executionFailedCode = -32003

    /// The error object as it goes on the wire.
    package var json: JSONValue {
        var object: [String: JSONValue] = ["code": .int(code), "message": .string(message)]
        if let data { object["data"] = data }
        return .object(object)
    }
}

/// One decoded message POSTed to `/`. The orchestrator sends requests and notifications, and its
/// replies to our own SSE requests (`blobs/get`) as responses.
package enum JSONRPCMessage: Sendable, Equatable {
    case request(id: JSONRPCID, method: String, params: JSONValue?)
    case notification(method: String, params: JSONValue?)
    case response(id: JSONRPCID, result: Result<JSONValue, JSONRPCError>)

    /// Classifies a parsed JSON value. Throws the JSON-RPC error to answer with (and the id, when
    /// one could be read) for anything that is not a well-formed JSON-RPC 2.0 message.
    package static func decode(_ value: JSONValue) throws(JSONRPCFailure) -> JSONRPCMessage {
        guard case .object(let object) = value else {
            throw JSONRPCFailure(id: nil, error: .invalidRequest("the body must be a JSON object, got \(value.kindDescription)"))
        }
        var id: JSONRPCID?
        if let rawID = object["id"], !rawID.isNull {
            guard let parsed = JSONRPCID(rawID) else {
                throw JSONRPCFailure(id: nil, error: .invalidRequest("\"id\" must be a string or an integer, got \(rawID.kindDescription)"))
            }
            id = parsed
        }
        guard object["jsonrpc"] == .string("2.0") else {
            throw JSONRPCFailure(id: id, error: .invalidRequest("\"jsonrpc\" must be \"2.0\""))
        }
        if let rawMethod = object["method"] {
            guard case .string(let method) = rawMethod, !method.isEmpty else {
                throw JSONRPCFailure(id: id, error: .invalidRequest("\"method\" must be a non-empty string"))
            }
            let params = object["params"]
            if let params, !params.isNull, params.objectValue == nil, params.arrayValue == nil {
                throw JSONRPCFailure(id: id, error: .invalidRequest("\"params\" must be an object or an array, got \(params.kindDescription)"))
            }
            if let id { return .request(id: id, method: method, params: params) }
            return .notification(method: method, params: params)
        }
        let result = object["result"]
        let error = object["error"]
        guard let id else {
            throw JSONRPCFailure(id: nil, error: .invalidRequest("a message needs a \"method\", or an \"id\" with a \"result\" or an \"error\""))
        }
        switch (result, error) {
        case (.some(let result), nil):
            return .response(id: id, result: .success(result))
        case (nil, .some(let error)):
            guard let code = error["code"]?.intValue, let message = error["message"]?.stringValue else {
                throw JSONRPCFailure(id: id, error: .invalidRequest("\"error\" must be an object with an integer \"code\" and a string \"message\""))
            }
            return .response(id: id, result: .failure(JSONRPCError(code: code, message: message, data: error["data"])))
        default:
            throw JSONRPCFailure(id: id, error: .invalidRequest("a response needs exactly one of \"result\" and \"error\""))
        }
    }
}

/// An error to answer with, and the id of the message it answers (nil when unknown).
package struct JSONRPCFailure: Error, Sendable, Equatable {
    /// The id of the message being answered, nil when it could not be read.
    package var id: JSONRPCID?
    /// The error to answer with.
    package var error: JSONRPCError
    /// A failure answering `id`.
    package init(id: JSONRPCID?, error: JSONRPCError) {
        self.id = id
        self.error = error
    }
}

/// Builds the messages the worker sends. Every one carries `"jsonrpc":"2.0"`: the orchestrator
/// rejects a message without it (the Stepflow protocol).
package enum JSONRPCEncoder {
    /// A success response.
    package static func result(id: JSONRPCID?, _ result: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id?.json ?? .null, "result": result]
    }

    /// An error response.
    package static func error(id: JSONRPCID?, _ error: JSONRPCError) -> JSONValue {
        ["jsonrpc": "2.0", "id": id?.json ?? .null, "error": error.json]
    }

    /// A request from the worker to the orchestrator (sent as an SSE event).
    package static func request(id: JSONRPCID, method: String, params: JSONValue) -> JSONValue {
        ["jsonrpc": "2.0", "id": id.json, "method": .string(method), "params": params]
    }

    /// One SSE event as the orchestrator parses it: `data: <one-line JSON>\n\n` (no CRLF, a space
    /// after the colon, as the Stepflow orchestrator parses SSE). Compact JSON never contains a raw newline.
    package static func sseEvent(_ message: JSONValue) -> Data {
        sseEvent(data: message.jsonData())
    }

    /// ``sseEvent(_:)`` for a message already encoded as compact JSON.
    package static func sseEvent(data message: Data) -> Data {
        var data = Data("data: ".utf8)
        data.append(message)
        data.append(contentsOf: [0x0A, 0x0A])
        return data
    }

    /// A success response whose `result` is `{"output": output}`, where `output` is one JSON
    /// value already encoded (the component's outcome). The envelope is written around it in
    /// the bytes ``JSONValue/jsonData()`` gives (compact, keys sorted: `id`, `jsonrpc`, `result`),
    /// so the output is neither decoded again nor searched for.
    package static func result(id: JSONRPCID?, output: Data) -> Data {
        var data = Data(#"{"id":"#.utf8)
        data.append((id?.json ?? .null).jsonData())
        data.append(contentsOf: #","jsonrpc":"2.0","result":{"output":"#.utf8)
        data.append(output)
        data.append(contentsOf: "}}".utf8)
        return data
    }

    /// An error response whose `error.data` also carries `outcome`, one JSON value already
    /// encoded (a failed document's outcome), written as ``result(id:output:)`` writes its output.
    /// Keys sorted as ``JSONValue/jsonData()`` sorts them: `error` (`code`, `data`, `message`),
    /// `id`, `jsonrpc`; `outcome` among the other members of `data`.
    package static func error(id: JSONRPCID?, _ error: JSONRPCError, outcome: Data) -> Data {
        var data = Data(#"{"error":{"code":"#.utf8)
        data.append(contentsOf: String(error.code).utf8)
        data.append(contentsOf: #","data":{"#.utf8)
        var members = error.data?.objectValue ?? [:]
        members["outcome"] = nil
        var keys = Array(members.keys)
        keys.append("outcome")
        for (i, key) in keys.sorted().enumerated() {
            if i > 0 { data.append(UInt8(ascii: ",")) }
            data.append(JSONValue.string(key).jsonData())
            data.append(UInt8(ascii: ":"))
            // Non-nil: every key but "outcome" comes from `members`.
            data.append(key == "outcome" ? outcome : (members[key] ?? .null).jsonData())
        }
        data.append(contentsOf: #"},"message":"#.utf8)
        data.append(JSONValue.string(error.message).jsonData())
        data.append(contentsOf: #"},"id":"#.utf8)
        data.append((id?.json ?? .null).jsonData())
        data.append(contentsOf: #","jsonrpc":"2.0"}"#.utf8)
        return data
    }
}

extension JSONRPCError {
    /// -32700: the body is not JSON.
    package static func parseError(_ detail: String) -> JSONRPCError {
        JSONRPCError(code: parseErrorCode, message: "Parse error: \(detail)")
    }
    /// -32600: JSON, but not a usable JSON-RPC message.
    package static func invalidRequest(_ detail: String) -> JSONRPCError {
        JSONRPCError(code: invalidRequestCode, message: "Invalid request: \(detail)")
    }
    /// -32601: a method this worker does not serve.
    package static func methodNotFound(_ method: String) -> JSONRPCError {
        JSONRPCError(code: methodNotFoundCode, message: "Method not found: '\(method)' is not supported by the ingest worker", data: ["method": .string(method)])
    }
    /// -32602: params or input of the wrong shape, or refused.
    package static func invalidParams(_ detail: String, reason: IngestError.Reason = .invalidInput) -> JSONRPCError {
        JSONRPCError(code: invalidParamsCode, message: "Invalid params: \(detail)", data: ["reason": .string(reason.rawValue)])
    }
}
