import Hummingbird
import NIOCore
import Prometheus

/// The two routes every service answers from memory, never waiting on a dependency:
/// `GET /health` for the balancer and probes, `GET /metrics` for Prometheus.
package enum ServiceRoutes {
    /// Registers `GET /health` (answered by `health`) and `GET /metrics` (rendering `registry`).
    package static func addHealthAndMetrics<Context: RequestContext>(
        to router: Router<Context>, registry: PrometheusCollectorRegistry, health: @escaping @Sendable () -> Response
    ) {
        router.get("/health") { _, _ in health() }
        router.get("/metrics") { _, _ in metrics(registry) }
    }

    /// The Prometheus text exposition of `registry`.
    package static func metrics(_ registry: PrometheusCollectorRegistry) -> Response {
        Response(
            status: .ok,
            headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
            body: ResponseBody(byteBuffer: ByteBuffer(bytes: registry.emitToBuffer()))
        )
    }

    /// A health answer: `body` (JSON) with 200, or 503 while draining so the balancer drops this
    /// replica; never cached.
    package static func health(draining: Bool, body: ByteBuffer) -> Response {
        Response(
            status: draining ? .serviceUnavailable : .ok,
            headers: [.contentType: "application/json", .cacheControl: "no-store"],
            body: ResponseBody(byteBuffer: body)
        )
    }
}
