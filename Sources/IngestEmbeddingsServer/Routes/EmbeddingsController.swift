import Foundation
import HTTPTypes
import Hummingbird
import IngestKit
import Logging
import NIOCore

/// `POST /v1/embeddings`, `GET /v1/models` and `GET /v1/models/{id}`, as the OpenAI API answers
/// them (also without the `/v1` prefix, for clients configured with the bare host).
package struct EmbeddingsController<Model: ServedModel>: Sendable {
    let model: Model
    let configuration: EmbeddingsServerConfiguration
    let state: EmbeddingsServerState
    let metrics: EmbeddingsServerMetrics

    package init(model: Model, configuration: EmbeddingsServerConfiguration, state: EmbeddingsServerState, metrics: EmbeddingsServerMetrics) {
        self.model = model
        self.configuration = configuration
        self.state = state
        self.metrics = metrics
    }

    package func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        for prefix in ["/v1", ""] {
            router.post("\(prefix)/embeddings") { request, context in try await self.embeddings(request, context: context) }
            router.get("\(prefix)/models") { request, _ in try self.models(request) }
            router.get("\(prefix)/models/:id") { request, context in try self.modelInfo(request, id: context.parameters.get("id") ?? "") }
        }
    }

    /// Embeds the request's inputs: admitted if fewer than EMBEDDINGS_SERVER_MAX_CONCURRENT_REQUESTS
    /// are in flight, body read up to EMBEDDINGS_SERVER_MAX_BODY_BYTES, checked, run within
    /// EMBEDDINGS_SERVER_REQUEST_TIMEOUT_SECONDS. Every refusal is an ``OpenAIError``.
    func embeddings(_ request: Request, context: some RequestContext) async throws -> Response {
        let started = ContinuousClock.now
        do {
            try authorize(request)
            guard state.admit(limit: configuration.maxConcurrentRequests) else {
                throw OpenAIError.busy(limit: configuration.maxConcurrentRequests)
            }
            metrics.setInFlight(state.requestsInFlight)
            defer {
                state.finish()
                metrics.setInFlight(state.requestsInFlight)
            }
            let body = try await readBody(request)
            let prepared = try EmbeddingsRequest.decode(body).prepare(for: model, maxInputs: configuration.maxInputs)
            let vectors = try await withDeadline(configuration.requestTimeout) { [model] in
                try await model.embed(tokenIDs: prepared.sequences)
            }
            let buffer = EmbeddingsResponse.render(vectors: vectors, model: model.name, promptTokens: prepared.promptTokens, format: prepared.encodingFormat)
            let seconds = (ContinuousClock.now - started) / .seconds(1)
            metrics.recordRequest(status: 200, inputs: vectors.count, tokens: prepared.promptTokens, seconds: seconds)
            return Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: buffer))
        } catch let error as OpenAIError {
            metrics.recordRequest(status: Int(error.status.code))
            if error.status.code >= 500 {
                context.logger.warning("embeddings request failed: \(error.message)")
            } else {
                context.logger.debug("embeddings request refused (\(error.status.code)): \(error.message)")
            }
            throw error
        } catch let error as IngestError {
            // The checks above make the model's own refusals unreachable; anything left is ours.
            metrics.recordRequest(status: 500)
            context.logger.error("the model failed: \(error.message)")
            throw OpenAIError.server("The model failed on this request: \(error.message)")
        }
    }

    /// `GET /v1/models`: the one model served.
    func models(_ request: Request) throws -> Response {
        try authorize(request)
        return json(#"{"object":"list","data":["# + modelObject + "]}")
    }

    /// `GET /v1/models/{id}`: the model, or 404 `model_not_found`.
    func modelInfo(_ request: Request, id: String) throws -> Response {
        try authorize(request)
        guard id.lowercased() == model.name.lowercased() || model.aliases.contains(id.lowercased()) else {
            throw OpenAIError.modelNotFound(id, served: model.name)
        }
        return json(modelObject)
    }

    private var modelObject: String {
        #"{"id":"# + EmbeddingsResponse.jsonString(model.name) + #","object":"model","created":0,"owned_by":"ingest"}"#
    }

    private func json(_ text: String) -> Response {
        Response(status: .ok, headers: [.contentType: "application/json"], body: ResponseBody(byteBuffer: ByteBuffer(string: text)))
    }

    /// Refuses the request when EMBEDDINGS_SERVER_API_KEY is set and the bearer token differs.
    private func authorize(_ request: Request) throws(OpenAIError) {
        guard let key = configuration.apiKey else { return }
        guard let header = request.headers[.authorization], header.hasPrefix("Bearer "),
              constantTimeEqual(Array(header.utf8.dropFirst(7)), Array(key.utf8))
        else { throw OpenAIError.unauthorized }
    }

    private func constantTimeEqual(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        guard a.count == b.count else { return false }
        return zip(a, b).reduce(0) { $0 | ($1.0 ^ $1.1) } == 0
    }

    /// The body, refused with 413 when its declared length, or the bytes as they arrive, pass
    /// the limit (never more than the limit plus one network read is held).
    private func readBody(_ request: Request) async throws -> Data {
        let limit = configuration.maxBodyBytes
        if let declared = request.headers[.contentLength].flatMap(Int.init), declared > limit {
            throw OpenAIError.bodyTooLarge(limit: limit)
        }
        var data = Data()
        for try await buffer in request.body {
            guard data.count + buffer.readableBytes <= limit else { throw OpenAIError.bodyTooLarge(limit: limit) }
            data.append(contentsOf: buffer.readableBytesView)
        }
        return data
    }

    /// Runs `body`, or throws 503 once `timeout` passes (after `body` has noticed the
    /// cancellation: a forward pass in progress ends first).
    private func withDeadline<T: Sendable>(_ timeout: Duration, _ body: @escaping @Sendable () async throws -> T) async throws -> T {
        try await withThrowingTaskGroup(of: T?.self) { group in
            group.addTask { try await body() }
            group.addTask {
                try await Task.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next(), let value = first else {
                throw OpenAIError.timedOut(after: timeout)
            }
            return value
        }
    }
}
