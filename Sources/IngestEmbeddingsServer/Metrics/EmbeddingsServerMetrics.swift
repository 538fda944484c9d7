import IngestService
import Prometheus

/// The Prometheus series of `ingest serve-embeddings`, in a registry of its own: nothing is
/// bootstrapped into the process-wide swift-metrics system, so tests can build many servers.
package struct EmbeddingsServerMetrics: Sendable {
    /// Where every series lives; `/metrics` renders it.
    package let registry: PrometheusCollectorRegistry

    /// Request latency buckets in seconds: one short query takes milliseconds, 2,048 chunks tens
    /// of seconds.
    static let durationBuckets: [Double] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60]

    package init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
    }

    /// Counts one `POST /v1/embeddings` by HTTP status, and on success its inputs, tokens and latency.
    package func recordRequest(status: Int, inputs: Int = 0, tokens: Int = 0, seconds: Double? = nil) {
        registry.makeCounter(descriptor: Self.requests, labels: [("status", String(status))]).increment()
        if inputs > 0 { registry.makeCounter(descriptor: Self.inputs).increment(by: Int64(inputs)) }
        if tokens > 0 { registry.makeCounter(descriptor: Self.tokens).increment(by: Int64(tokens)) }
        if let seconds {
            registry.makeValueHistogram(descriptor: Self.duration, buckets: Self.durationBuckets).record(seconds)
        }
    }

    /// Sets the gauge of requests in flight.
    package func setInFlight(_ value: Int) {
        registry.makeGauge(descriptor: Self.inFlight).set(Double(value))
    }

    static var requests: MetricNameDescriptor { .ingest("embeddings_requests", unit: "total", help: "POST /v1/embeddings requests answered, by HTTP status.") }
    static var inputs: MetricNameDescriptor { .ingest("embeddings_inputs", unit: "total", help: "Inputs embedded.") }
    static var tokens: MetricNameDescriptor { .ingest("embeddings_tokens", unit: "total", help: "Tokens run through the model, [CLS] and [SEP] included.") }
    static var duration: MetricNameDescriptor { .ingest("embeddings_request_duration", unit: "seconds", help: "Time to answer a successful POST /v1/embeddings, body read to response built.") }
    static var inFlight: MetricNameDescriptor { .ingest("embeddings_requests_in_flight", help: "POST /v1/embeddings requests being served.") }

    /// The Prometheus text exposition of every series.
    package func render() -> [UInt8] { registry.emitToBuffer() }
}
