import HTTPTypes
import Hummingbird
import NIOCore

/// `GET /health` for probes and `GET /metrics` for Prometheus; both answer from memory.
package struct EmbeddingsHealthController<Model: ServedModel>: Sendable {
    let model: Model
    let state: EmbeddingsServerState
    let metrics: EmbeddingsServerMetrics

    package init(model: Model, state: EmbeddingsServerState, metrics: EmbeddingsServerMetrics) {
        self.model = model
        self.state = state
        self.metrics = metrics
    }

    package func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        router.get("/health") { _, _ in self.health() }
        router.get("/metrics") { _, _ in
            Response(
                status: .ok,
                headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                body: ResponseBody(byteBuffer: ByteBuffer(bytes: self.metrics.render()))
            )
        }
    }

    /// `{"status":"healthy",…}` (200) once the model is loaded, which happens before the server
    /// listens; `"draining"` with 503 after SIGTERM.
    func health() -> Response {
        let draining = state.isDraining
        let body = #"{"status":""# + (draining ? "draining" : "healthy")
            + #"","service":"ingest-embeddings","model":"# + EmbeddingsResponse.jsonString(model.name)
            + #","dimension":\#(model.dimension),"maxTokens":\#(model.maxTokens),"requestsInFlight":\#(state.requestsInFlight)}"#
        return Response(
            status: draining ? .serviceUnavailable : .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: ByteBuffer(string: body))
        )
    }
}
