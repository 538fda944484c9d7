import Logging
import ServiceLifecycle

/// Holds the HTTP server up for a grace period after SIGTERM while `/health` reports "draining".
///
/// It is the last service of the group, so it is shut down first: it flips the worker to
/// draining at once, waits `grace` (the balancer polls every 10 s and keeps routing to a healthy
/// replica until then), and returns; only then does the group shut the server down gracefully
/// (stop accepting, finish in-flight documents, close idle connections).
package struct DrainGate: Service {
    let state: WorkerState
    let grace: Duration
    let logger: Logger

    /// A gate draining `state` for `grace` after the shutdown signal.
    package init(state: WorkerState, grace: Duration, logger: Logger) {
        self.state = state
        self.grace = grace
        self.logger = logger
    }

    /// Waits for graceful shutdown, drains, waits the grace period, returns.
    package func run() async throws {
        // Returns when graceful shutdown is triggered (or the task is cancelled).
        try? await gracefulShutdown()
        state.startDraining()
        logger.info("shutdown requested: draining", metadata: ["grace_seconds": "\(grace.components.seconds)"])
        if !Task.isCancelled {
            try? await Task.sleep(for: grace)
        }
        logger.info("grace period over: stopping the server after in-flight requests finish")
    }
}
