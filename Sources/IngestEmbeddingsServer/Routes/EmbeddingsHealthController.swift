import HTTPTypes
import Hummingbird
import IngestService
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

    /// Registers `GET /health` and `GET /metrics`.
    package func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        ServiceRoutes.addHealthAndMetrics(to: router, registry: metrics.registry) { self.health() }
    }

    /// `{"status":"healthy",…}` (200) once the model is loaded, which happens before the server
    /// listens; `"draining"` with 503 after SIGTERM.
    func health() -> Response {
        let draining = state.isDraining
        let body = #"{"status":""# + (draining ? "draining" : "healthy")
            + #"","service":"ingest-embeddings","model":"# + EmbeddingsResponse.jsonString(model.name)
            + #","dimension":\#(model.dimension),"maxTokens":\#(model.maxTokens),"requestsInFlight":\#(state.requestsInFlight)}"#
        return ServiceRoutes.health(draining: draining, body: ByteBuffer(string: body))
    }
}
