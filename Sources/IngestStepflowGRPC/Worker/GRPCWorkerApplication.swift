import Foundation
import Hummingbird
import IngestCore
import IngestKit
import IngestService
import IngestWorker
import Logging
import NIOCore
import ServiceLifecycle

/// `ingest serve --transport grpc`: the pull worker, plus HTTP on SERVER_HOST:SERVER_PORT for
/// Kubernetes and Prometheus only (nothing else connects to a pull worker):
/// - `GET /health`: liveness; healthy while the process works, whatever the orchestrator does
///   (an orchestrator outage must not get the pods restarted), with dependency details;
/// - `GET /ready`: readiness; 200 only while the pull stream is connected and not shutting down;
/// - `GET /metrics`.
/// SIGTERM/SIGINT: stop pulling, readiness off, finish and complete the tasks in flight, exit.
/// `leases`: the pipeline's lease keeper, run first in the group so it drains last.
package func runGRPCWorker(server: ServerConfiguration, settings: GRPCWorkerSettings, ingester: some DocumentIngesting, leases: LeaseKeeper? = nil, logger: Logger) async throws {
    let state = WorkerState(podName: server.podName)
    let status = PullStatus()
    let metrics = WorkerMetrics.shared
    let component = IngestTaskComponent(ingester: ingester, metrics: metrics, executeTimeout: server.executeTimeout, budget: server.documentBudget(), logger: logger)
    var workerLogger = logger
    workerLogger[metadataKey: "worker_id"] = "\(state.instanceID)"
    let worker = GRPCWorker(settings: settings, component: component, workerID: state.instanceID, status: status, metrics: metrics, logger: workerLogger)

    let app = buildGRPCWorkerApplication(server: server, state: state, status: status, ingester: ingester, metrics: metrics, logger: logger)
    logger.info("ingest gRPC worker starting", metadata: [
        "instance_id": "\(state.instanceID)",
        "tasks_url": "\(settings.tasks)",
        "blob_url": "\(settings.blobs)",
        "tls_ca_file": "\(settings.tlsFiles.caFile ?? (settings.tasks.tls ? "system roots" : "-"))",
        "tls_client_certificate": "\(settings.tlsFiles.certFile ?? "-")",
        "queue": "\(settings.queueName)",
        "max_concurrent": "\(settings.maxConcurrent)",
        "max_message_bytes": "\(settings.maxMessageBytes)",
        "max_assignment_bytes": "\(settings.maxAssignmentBytes)",
        "http": "\(server.host):\(server.port)",
        "execute_timeout_seconds": "\(server.executeTimeout.wholeSeconds)",
    ])
    // Shut down in reverse order: the worker first (it drains), the HTTP server last, so probes
    // and metrics answer while documents finish.
    try await ServiceRunner.run((leases.map { [LeaseKeeperService($0)] as [any Service] } ?? []) + [app, worker], logger: logger)
}

/// The HTTP side of the gRPC worker (tests build it without the worker).
package func buildGRPCWorkerApplication(server: ServerConfiguration, state: WorkerState, status: PullStatus, ingester: some DocumentIngesting, metrics: WorkerMetrics, logger: Logger) -> some ApplicationProtocol {
    let router = Router()
    router.middlewares.add(MetricsMiddleware())
    HealthController(state: state, metrics: metrics).addRoutes(to: router)
    router.get("/ready") { _, _ in readiness(status: status, instanceID: state.instanceID) }
    var app = Application(
        router: router,
        configuration: ApplicationConfiguration(address: .hostname(server.host, port: server.port), serverName: "ingest-worker"),
        logger: logger
    )
    app.addServices(DependencyMonitor(ingester: ingester, state: state, interval: server.healthRefreshInterval, timeout: server.healthCheckTimeout))
    return app
}

/// `{"ready":…,"connected":…,"stopping":…,"instanceId":…}`, 200 when ready, else 503.
func readiness(status: PullStatus, instanceID: String) -> Response {
    let body: JSONValue = [
        "ready": .bool(status.isReady),
        "connected": .bool(status.isConnected),
        "stopping": .bool(status.isStopping),
        "instanceId": .string(instanceID),
        "transport": "grpc",
    ]
    return Response(
        status: status.isReady ? .ok : .serviceUnavailable,
        headers: [.contentType: "application/json", .cacheControl: "no-store"],
        body: ResponseBody(byteBuffer: ByteBuffer(bytes: body.jsonData()))
    )
}
