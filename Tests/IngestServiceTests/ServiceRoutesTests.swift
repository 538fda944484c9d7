import Hummingbird
import HummingbirdTesting
import IngestService
import NIOCore
import Prometheus
import Testing

/// `/health` and `/metrics` as both servers answer them: the status follows the drain flag, the
/// body is the caller's, nothing is cached; the metrics are Prometheus text.
@Suite struct ServiceRoutesTests {
    @Test func healthIs200UntilDrainingThen503() async throws {
        let drain = DrainFlag()
        let registry = PrometheusCollectorRegistry()
        registry.makeCounter(descriptor: .ingest("test_things", unit: "total", help: "Things.")).increment()
        let router = Router()
        ServiceRoutes.addHealthAndMetrics(to: router, registry: registry) {
            ServiceRoutes.health(draining: drain.isDraining, body: ByteBuffer(string: #"{"status":"\#(drain.isDraining ? "draining" : "healthy")"}"#))
        }
        try await Application(router: router).test(.router) { client in
            let healthy = try await client.execute(uri: "/health", method: .get)
            #expect(healthy.status == .ok)
            #expect(String(buffer: healthy.body) == #"{"status":"healthy"}"#)
            #expect(healthy.headers[.contentType] == "application/json")
            #expect(healthy.headers[.cacheControl] == "no-store")

            drain.startDraining()
            let draining = try await client.execute(uri: "/health", method: .get)
            #expect(draining.status == .serviceUnavailable)
            #expect(String(buffer: draining.body) == #"{"status":"draining"}"#)

            let metrics = try await client.execute(uri: "/metrics", method: .get)
            #expect(metrics.status == .ok)
            #expect(metrics.headers[.contentType] == "text/plain; version=0.0.4; charset=utf-8")
            #expect(String(buffer: metrics.body).contains("ingest_test_things_total 1"))
        }
    }
}
