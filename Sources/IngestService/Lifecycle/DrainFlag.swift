import Synchronization

/// Whether a service is draining: set once by ``DrainGate`` on SIGTERM, read by `/health` so the
/// balancer (or a Kubernetes Service) stops routing here before the server stops accepting.
package final class DrainFlag: Sendable {
    private let flag = Atomic<Bool>(false)

    package init() {}

    /// True once shutdown began.
    package var isDraining: Bool { flag.load(ordering: .acquiring) }

    /// Marks the service as draining.
    package func startDraining() { flag.store(true, ordering: .releasing) }
}
