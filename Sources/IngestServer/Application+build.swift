import Hummingbird
import IngestCore
import IngestKit
import IngestService
import IngestWorker
import Logging
import NIOCore

/// Builds the worker: `POST /` (JSON-RPC), `GET /health`, `GET /metrics`, with the background
/// dependency monitor as an application service. Tests build it with a fake ingester.
package func buildApplication(
    configuration: ServerConfiguration,
    ingester: some DocumentIngesting,
    logger: Logger
) -> some ApplicationProtocol {
    buildApplication(configuration: configuration, ingester: ingester, state: WorkerState(podName: configuration.podName), logger: logger)
}

/// Same, with the shared state supplied, so `runServer` and tests can reach it (drain flag,
/// instance id; pending callbacks and the blob API of `initialize` in `rpc`).
package func buildApplication(
    configuration: ServerConfiguration,
    ingester: some DocumentIngesting,
    state: WorkerState,
    rpc: RPCState = RPCState(),
    metrics: WorkerMetrics = .shared,
    logger: Logger
) -> some ApplicationProtocol {
    let router = Router(context: WorkerRequestContext.self)
    // Before the routes, so it sees every request.
    router.middlewares.add(MetricsMiddleware())
    RPCController(ingester: ingester, configuration: configuration, state: state, rpc: rpc, metrics: metrics).addRoutes(to: router)
    HealthController(state: state, metrics: metrics).addRoutes(to: router)

    var app = Application(
        router: router,
        // Idle keep-alive connections must outlive the orchestrator's 90 s pool timeout.
        // The watcher lets an execution notice that the orchestrator's connection closed.
        server: .http1(configuration: .init(
            additionalChannelHandlers: [ConnectionCloseWatcher()],
            idleTimeout: TimeAmount(configuration.idleTimeout)
        )),
        configuration: ApplicationConfiguration(
            address: .hostname(configuration.host, port: configuration.port),
            serverName: "ingest-worker"
        ),
        logger: logger
    )
    app.addServices(DependencyMonitor(
        ingester: ingester,
        state: state,
        interval: configuration.healthRefreshInterval,
        timeout: configuration.healthCheckTimeout
    ))
    return app
}

/// Runs the worker until SIGTERM or SIGINT, then drains: `/health` says "draining" (503) at once,
/// requests are still served for `shutdownGrace`, then the server stops accepting, finishes
/// in-flight documents and closes idle connections. Dependencies being down never stops it.
/// `leases`: the pipeline's lease keeper, run first in the group so it drains last.
package func runServer(configuration: ServerConfiguration, ingester: some DocumentIngesting, leases: LeaseKeeper? = nil, logger: Logger) async throws {
    let state = WorkerState(podName: configuration.podName)
    let app = buildApplication(configuration: configuration, ingester: ingester, state: state, logger: logger)
    logger.info("ingest worker starting", metadata: [
        "instance_id": "\(state.instanceID)",
        "address": "\(configuration.host):\(configuration.port)",
        "max_body_bytes": "\(configuration.maxBodyBytes)",
        "execute_timeout_seconds": "\(configuration.executeTimeout.wholeSeconds)",
    ])
    try await ServiceRunner.runDraining(app, drain: state.drain, grace: configuration.shutdownGrace, stoppingLast: leases.map { [LeaseKeeperService($0)] } ?? [], logger: logger)
}
