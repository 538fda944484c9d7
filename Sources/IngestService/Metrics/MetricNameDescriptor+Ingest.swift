import Prometheus

extension MetricNameDescriptor {
    /// A series named `ingest_<name>_<unit>`: every service of ours uses the `ingest` namespace.
    package static func ingest(_ name: String, unit: String = "", help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "ingest", metricName: name, unitName: unit, helpText: help)
    }
}
