import Logging
import ServiceLifecycle
import Synchronization

/// What the routes and the drain gate of one `ingest serve-embeddings` process share: whether
/// it is draining and how many requests it is serving.
package final class EmbeddingsServerState: Sendable {
    private let draining = Atomic<Bool>(false)
    private let inFlight = Atomic<Int>(0)

    package init() {}

    /// True once shutdown began: `/health` answers 503 so the Service stops routing here.
    package var isDraining: Bool { draining.load(ordering: .acquiring) }

    /// Marks the server as draining (SIGTERM received).
    package func startDraining() { draining.store(true, ordering: .releasing) }

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

/// Holds the server up for a grace period after SIGTERM while `/health` says "draining" (503),
/// so the Service's endpoints drop this pod before it stops accepting. The last service of the
/// group, so shut down first; then the group stops the server gracefully (stop accepting,
/// answer the requests in flight, close idle connections).
package struct EmbeddingsDrainGate: Service {
    let state: EmbeddingsServerState
    let grace: Duration
    let logger: Logger

    package init(state: EmbeddingsServerState, grace: Duration, logger: Logger) {
        self.state = state
        self.grace = grace
        self.logger = logger
    }

    package func run() async throws {
        try? await gracefulShutdown()
        state.startDraining()
        logger.info("shutdown requested: draining", metadata: ["grace_seconds": "\(grace.components.seconds)"])
        if !Task.isCancelled {
            try? await Task.sleep(for: grace)
        }
        logger.info("grace period over: stopping the server after in-flight requests finish")
    }
}
