import NIOCore

/// `Duration` in the units reports, messages, metrics and NIO want, converted here and only
/// here (it was written out in five places).
extension Duration {
    /// Seconds as a Double, for reports, metrics and wire fields (`document_timeout`).
    package var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }

    /// Whole seconds (truncated), for messages and log fields that name a configured limit
    /// (`INGEST_EXECUTE_TIMEOUT_SECONDS (300 s)`).
    package var wholeSeconds: Int64 { components.seconds }

    /// Whole milliseconds (truncated), for `duration_ms` log fields.
    package var milliseconds: Int64 {
        components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000
    }

    /// The same span as NIO's `TimeAmount`, for deadlines and client timeouts.
    package var timeAmount: TimeAmount {
        .nanoseconds(components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000)
    }
}
