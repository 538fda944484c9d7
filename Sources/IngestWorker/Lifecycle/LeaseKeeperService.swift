import IngestCore
import ServiceLifecycle

/// The pipeline's ``LeaseKeeper`` as a service of the worker's `ServiceGroup`. It is the first
/// service of the group, so it is shut down last: after the documents in flight finished and
/// handed their releases over, it runs those releases (each with its own short timeout), gives
/// back anything still held, and returns.
package struct LeaseKeeperService: Service {
    let keeper: LeaseKeeper

    package init(_ keeper: LeaseKeeper) { self.keeper = keeper }

    package func run() async throws {
        await withGracefulShutdownHandler {
            await keeper.run()
        } onGracefulShutdown: {
            keeper.finish()
        }
    }
}
