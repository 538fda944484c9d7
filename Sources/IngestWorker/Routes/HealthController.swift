import Foundation
import Hummingbird
import IngestCore
import IngestKit
import IngestService
import NIOCore

/// `GET /health` for the balancer (routing table by `instanceId`, 2 s timeout) and k8s probes, and
/// `GET /metrics` for Prometheus. Both answer from memory and never wait on a dependency.
package struct HealthController: Sendable {
    let state: WorkerState
    let metrics: WorkerMetrics

    /// Routes reading `state` and rendering `metrics`.
    package init(state: WorkerState, metrics: WorkerMetrics) {
        self.state = state
        self.metrics = metrics
    }

    /// Registers `GET /health` and `GET /metrics`.
    package func addRoutes<Context: RequestContext>(to router: Router<Context>) {
        ServiceRoutes.addHealthAndMetrics(to: router, registry: metrics.registry) { self.health() }
    }

    /// `{"status":"healthy","instanceId":…}` plus dependency details. The status stays "healthy"
    /// while a dependency is down (the replica still answers, and its steps fail with the cause);
    /// it is "draining" with 503 once shutdown began, so the balancer drops this replica.
    package func health() -> Response {
        let draining = state.isDraining
        var body: [String: JSONValue] = [
            "status": draining ? "draining" : "healthy",
            "instanceId": .string(state.instanceID),
            "service": "ingest-worker",
            "timestamp": .string(Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(Date())),
        ]
        if let snapshot = state.dependencies {
            body["ready"] = .bool(!snapshot.timedOut && snapshot.statuses.allSatisfy(\.ok))
            body["dependencies"] = .array(snapshot.statuses.map { status in
                [
                    "name": .string(status.name),
                    "url": .string(redactingCredentials(status.url)),
                    "ok": .bool(status.ok),
                    "message": .string(status.message),
                ]
            })
            body["checkedAt"] = .string(Date.ISO8601FormatStyle().format(snapshot.checkedAt))
            if snapshot.timedOut {
                body["dependencyCheck"] = .string(snapshot.statuses.isEmpty
                    ? "timed out; no result yet (a dependency may be unreachable)"
                    : "timed out; showing the previous result")
            }
        } else {
            body["ready"] = false
            body["dependencyCheck"] = "pending"
        }
        return ServiceRoutes.health(draining: draining, body: ByteBuffer(bytes: JSONValue.object(body).jsonData()))
    }
}
