import Logging
import ServiceLifecycle
import UnixSignals

/// How every service of `ingest` runs: in one `ServiceGroup`, shut down gracefully on SIGTERM or
/// SIGINT, in reverse order (so the service listed last stops first).
package enum ServiceRunner {
    /// Runs `services` until a signal, then shuts them down last to first.
    package static func run(_ services: [any Service], logger: Logger) async throws {
        let group = ServiceGroup(configuration: .init(
            services: services,
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger
        ))
        try await group.run()
    }

    /// Runs an HTTP server until a signal, then drains: `/health` says "draining" (503) at once,
    /// requests are still served for `grace`, then the server stops accepting, answers the
    /// requests in flight and closes idle connections. `stoppingLast` run beside them and are
    /// shut down after the server (the worker's lease keeper: releases after the last document).
    package static func runDraining(_ server: some Service, drain: DrainFlag, grace: Duration, stoppingLast: [any Service] = [], logger: Logger) async throws {
        // The gate is last, so it is shut down first (drain, wait), then the server.
        try await run(stoppingLast + [server, DrainGate(drain: drain, grace: grace, logger: logger)], logger: logger)
    }
}
