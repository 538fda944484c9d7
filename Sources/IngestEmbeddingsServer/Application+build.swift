import Hummingbird
import IngestService
import Logging
import NIOCore

/// Builds `ingest serve-embeddings`: `POST /v1/embeddings`, `GET /v1/models`, `GET /health`,
/// `GET /metrics`. Tests build it with a fake model.
package func buildEmbeddingsApplication(
    configuration: EmbeddingsServerConfiguration,
    model: some ServedModel,
    state: EmbeddingsServerState = EmbeddingsServerState(),
    metrics: EmbeddingsServerMetrics = EmbeddingsServerMetrics(),
    logger: Logger
) -> some ApplicationProtocol {
    let router = Router()
    EmbeddingsController(model: model, configuration: configuration, state: state, metrics: metrics).addRoutes(to: router)
    EmbeddingsHealthController(model: model, state: state, metrics: metrics).addRoutes(to: router)
    return Application(
        router: router,
        server: .http1(configuration: .init(idleTimeout: TimeAmount(configuration.idleTimeout))),
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "ingest-embeddings"
        ),
        logger: logger
    )
}

/// Serves until SIGTERM or SIGINT, then drains: `/health` says "draining" (503) at once,
/// requests are still served for the grace period, then the server stops accepting, answers
/// the requests in flight and closes idle connections.
package func runEmbeddingsServer(configuration: EmbeddingsServerConfiguration, model: some ServedModel, logger: Logger) async throws {
    let state = EmbeddingsServerState()
    let app = buildEmbeddingsApplication(configuration: configuration, model: model, state: state, logger: logger)
    try await ServiceRunner.runDraining(app, drain: state.drain, grace: configuration.shutdownGrace, logger: logger)
}
