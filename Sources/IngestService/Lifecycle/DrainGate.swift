import IngestKit
import Logging
import ServiceLifecycle

/// Holds the HTTP server up for a grace period after SIGTERM while `/health` reports "draining".
///
/// It is the last service of the group, so it is shut down first: it flips the service to
/// draining at once, waits `grace` (the balancer polls every 10 s and keeps routing to a healthy
/// replica until then), and returns; only then does the group shut the server down gracefully
/// (stop accepting, finish the requests in flight, close idle connections).
package struct DrainGate: Service {
    let drain: DrainFlag
    let grace: Duration
    let logger: Logger

    /// A gate setting `drain` and waiting `grace` after the shutdown signal.
    package init(drain: DrainFlag, grace: Duration, logger: Logger) {
        self.drain = drain
        self.grace = grace
        self.logger = logger
    }

    /// Waits for graceful shutdown, drains, waits the grace period, returns.
    package func run() async throws {
        // Returns when graceful shutdown is triggered (or the task is cancelled).
        try? await gracefulShutdown()
        drain.startDraining()
        logger.info("shutdown requested: draining", metadata: ["grace_seconds": "\(grace.wholeSeconds)"])
        if !Task.isCancelled {
            try? await Task.sleep(for: grace)
        }
        logger.info("grace period over: stopping the server after in-flight requests finish")
    }
}
