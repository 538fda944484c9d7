import IngestService
import Synchronization

/// What the routes and the drain gate of one `ingest serve-embeddings` process share: whether
/// it is draining and how many requests it is serving.
package final class EmbeddingsServerState: Sendable {
    /// Set by the drain gate on SIGTERM.
    package let drain = DrainFlag()
    private let inFlight = Atomic<Int>(0)

    package init() {}

    /// True once shutdown began: `/health` answers 503 so the Service stops routing here.
    package var isDraining: Bool { drain.isDraining }

    /// Marks the server as draining (SIGTERM received).
    package func startDraining() { drain.startDraining() }

    /// Requests admitted and not yet answered.
    package var requestsInFlight: Int { inFlight.load(ordering: .relaxed) }

    /// Admits one request if fewer than `limit` are in flight; pair a `true` with ``finish()``.
    package func admit(limit: Int) -> Bool {
        let now = inFlight.wrappingAdd(1, ordering: .acquiringAndReleasing).newValue
        if now > limit {
            inFlight.wrappingSubtract(1, ordering: .acquiringAndReleasing)
            return false
        }
        return true
    }

    /// Counterpart of a successful ``admit(limit:)``.
    package func finish() { inFlight.wrappingSubtract(1, ordering: .acquiringAndReleasing) }
}
