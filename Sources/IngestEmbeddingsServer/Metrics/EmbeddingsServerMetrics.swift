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

    static var requests: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "ingest", metricName: "embeddings_requests", unitName: "total", helpText: "POST /v1/embeddings requests answered, by HTTP status.") }
    static var inputs: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "ingest", metricName: "embeddings_inputs", unitName: "total", helpText: "Inputs embedded.") }
    static var tokens: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "ingest", metricName: "embeddings_tokens", unitName: "total", helpText: "Tokens run through the model, [CLS] and [SEP] included.") }
    static var duration: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "ingest", metricName: "embeddings_request_duration", unitName: "seconds", helpText: "Time to answer a successful POST /v1/embeddings, body read to response built.") }
    static var inFlight: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "ingest", metricName: "embeddings_requests_in_flight", unitName: "", helpText: "POST /v1/embeddings requests being served.") }

    /// The Prometheus text exposition of every series.
    package func render() -> [UInt8] { registry.emitToBuffer() }
}
