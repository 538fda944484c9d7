import CoreMetrics
import Foundation
import IngestCore
import IngestKit
import IngestService
import Prometheus

/// The worker's Prometheus metrics. One registry per process: Hummingbird's `MetricsMiddleware`
/// records through the global swift-metrics system, which can be bootstrapped only once, so the
/// registry it writes to is created (and the system bootstrapped) on first use and shared by
/// every application the process builds.
package struct WorkerMetrics: Sendable {
    /// The process-wide registry that `/metrics` renders.
    package static let shared: WorkerMetrics = {
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return WorkerMetrics(registry: registry)
    }()

    /// Where every series lives; `/metrics` renders it.
    package let registry: PrometheusCollectorRegistry

    /// Stage latency buckets in seconds: Docling takes seconds to minutes, embedding and indexing
    /// milliseconds to seconds.
    static let stageBuckets: [Double] = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

    /// Metrics in `registry` (tests may pass their own).
    package init(registry: PrometheusCollectorRegistry) {
        self.registry = registry
    }

    /// Counts one JSON-RPC message by method (or kind) and outcome ("ok", "error").
    package func recordRPC(method: String, outcome: String) {
        registry.makeCounter(descriptor: Self.rpcRequests, labels: [("method", method), ("outcome", outcome)]).increment()
    }

    /// Records one finished document: its status, chunks, failure reason and stage latencies.
    package func recordOutcome(_ outcome: DocumentOutcome) {
        registry.makeCounter(descriptor: Self.documents, labels: [("status", outcome.status.rawValue)]).increment()
        if outcome.chunks > 0 {
            registry.makeCounter(descriptor: Self.chunks).increment(by: Int64(outcome.chunks))
        }
        if let error = outcome.error {
            recordFailure(reason: error.reason)
        }
        if let timings = outcome.timings {
            for (stage, seconds) in [("convert", timings.convert), ("chunk", timings.chunk), ("embed", timings.embed), ("index", timings.index)] {
                registry.makeValueHistogram(descriptor: Self.stageDuration, labels: [("stage", stage)], buckets: Self.stageBuckets)
                    .record(seconds)
            }
        }
    }

    /// Counts a failed execute by reason (also for failures outside the pipeline: bad input,
    /// timeouts, lost callbacks).
    package func recordFailure(reason: IngestError.Reason) {
        registry.makeCounter(descriptor: Self.failures, labels: [("reason", reason.rawValue)]).increment()
    }

    /// Tracks executions in progress.
    package func executeStarted() { inFlight.increment() }
    /// Counterpart of ``executeStarted()``.
    package func executeFinished() { inFlight.decrement() }

    private var inFlight: Prometheus.Gauge { registry.makeGauge(descriptor: Self.executionsInFlight) }

    static var rpcRequests: MetricNameDescriptor { .ingest("rpc_requests", unit: "total", help: "JSON-RPC messages received, by method and outcome.") }
    static var documents: MetricNameDescriptor { .ingest("documents", unit: "total", help: "Documents processed by the /ingest component, by final status.") }
    static var chunks: MetricNameDescriptor { .ingest("chunks", unit: "total", help: "Chunks indexed by the /ingest component.") }
    static var failures: MetricNameDescriptor { .ingest("failures", unit: "total", help: "Failed /ingest executions, by reason.") }
    static var stageDuration: MetricNameDescriptor { .ingest("stage_duration", unit: "seconds", help: "Time spent per pipeline stage for one document.") }
    static var executionsInFlight: MetricNameDescriptor { .ingest("executions_in_flight", help: "components/execute calls being processed.") }

    /// The Prometheus text exposition of every metric.
    package func render() -> [UInt8] { registry.emitToBuffer() }
}
