import Foundation
import HTTPTypes
import Hummingbird
import IngestKit
import NIOCore

/// An error as the OpenAI API renders it, so OpenAI clients raise their usual exceptions
/// (`openai.BadRequestError`, `NotFoundError`, …) with our message:
/// `{"error":{"message":…,"type":…,"param":…,"code":…}}`.
package struct OpenAIError: Error, Sendable, Equatable, HTTPResponseError {
    package var status: HTTPResponse.Status
    package var message: String
    /// `invalid_request_error` for anything the client can fix; `server_error` otherwise.
    package var type: String
    /// The request field at fault (`input`, `model`, `encoding_format`, `dimensions`), if one is.
    package var param: String?
    /// A machine-readable code where OpenAI has one (`model_not_found`, `invalid_api_key`, …).
    package var code: String?
    /// Extra headers (`Retry-After` on 429 and 503).
    package var headers: HTTPFields

    package init(_ status: HTTPResponse.Status, _ message: String, type: String = "invalid_request_error", param: String? = nil, code: String? = nil, headers: HTTPFields = [:]) {
        self.status = status
        self.message = message
        self.type = type
        self.param = param
        self.code = code
        self.headers = headers
    }

    /// The JSON body.
    package var body: Data {
        struct Envelope: Encodable {
            struct Inner: Encodable {
                var message: String
                var type: String
                var param: String?
                var code: String?
                func encode(to encoder: any Encoder) throws {
                    var c = encoder.container(keyedBy: CodingKeys.self)
                    try c.encode(message, forKey: .message)
                    try c.encode(type, forKey: .type)
                    // OpenAI sends null rather than leaving the keys out.
                    try c.encode(param, forKey: .param)
                    try c.encode(code, forKey: .code)
                }
                enum CodingKeys: String, CodingKey { case message, type, param, code }
            }
            var error: Inner
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return (try? encoder.encode(Envelope(error: .init(message: message, type: type, param: param, code: code)))) ?? Data()
    }

    package func response(from request: Request, context: some RequestContext) throws -> Response {
        var fields = headers
        fields[.contentType] = "application/json"
        return Response(status: status, headers: fields, body: ResponseBody(byteBuffer: ByteBuffer(bytes: body)))
    }
}

extension OpenAIError {
    /// 400 for a field of the wrong kind or value.
    static func invalid(_ message: String, param: String?) -> OpenAIError {
        OpenAIError(.badRequest, message, param: param)
    }

    /// 400, OpenAI's words for an input longer than the model's window.
    static func tooLong(maxTokens: Int, requested: Int, index: Int) -> OpenAIError {
        OpenAIError(.badRequest, "This model's maximum context length is \(maxTokens) tokens, however you requested \(requested) tokens (\(requested) in your prompt; 0 for the completion). Please reduce your prompt; or completion length. (input[\(index)])", param: "input")
    }

    /// 404 for a model this server does not serve.
    static func modelNotFound(_ requested: String, served: String) -> OpenAIError {
        OpenAIError(.notFound, "The model `\(requested)` does not exist or you do not have access to it. This server serves `\(served)`.", param: "model", code: "model_not_found")
    }

    /// 401 for a missing or wrong key (the key is not repeated).
    static let unauthorized = OpenAIError(.unauthorized, "Incorrect API key provided. Send `Authorization: Bearer <key>` with the key set in EMBEDDINGS_SERVER_API_KEY.", code: "invalid_api_key")

    /// 429 when EMBEDDINGS_SERVER_MAX_CONCURRENT_REQUESTS are already being served.
    static func busy(limit: Int) -> OpenAIError {
        OpenAIError(.tooManyRequests, "The server is already handling \(limit) requests (EMBEDDINGS_SERVER_MAX_CONCURRENT_REQUESTS); retry after a second.", type: "requests", code: "rate_limit_exceeded", headers: [.retryAfter: "1"])
    }

    /// 413 for a body over EMBEDDINGS_SERVER_MAX_BODY_BYTES.
    static func bodyTooLarge(limit: Int) -> OpenAIError {
        OpenAIError(.contentTooLarge, "The request body is larger than \(limit) bytes (EMBEDDINGS_SERVER_MAX_BODY_BYTES); send fewer inputs per request.", param: "input")
    }

    /// 503 when a request outlives EMBEDDINGS_SERVER_REQUEST_TIMEOUT_SECONDS.
    static func timedOut(after timeout: Duration) -> OpenAIError {
        OpenAIError(.serviceUnavailable, "The request was not answered within \(String(format: "%g", timeout.seconds)) s (EMBEDDINGS_SERVER_REQUEST_TIMEOUT_SECONDS); the server is overloaded: retry, or send fewer inputs per request.", type: "server_error", headers: [.retryAfter: "1"])
    }

    /// 500 for a failure of the model itself.
    static func server(_ message: String) -> OpenAIError {
        OpenAIError(.internalServerError, message, type: "server_error")
    }
}
