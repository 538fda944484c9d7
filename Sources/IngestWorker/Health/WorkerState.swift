import Foundation
import IngestCore
import IngestService
import Synchronization

/// State shared by the routes and the services of one worker process, whichever its transport:
/// its instance id, whether it is draining and the last dependency check.
package final class WorkerState: Sendable {
    /// `<POD_NAME>-<8 hex>`: unique per process (replicas must not collide in the balancer's
    /// table) and stable for its lifetime (callback replies are routed by it).
    package let instanceID: String
    /// Set by the drain gate on SIGTERM.
    package let drain = DrainFlag()
    private let snapshot = Mutex<DependencySnapshot?>(nil)

    /// Fresh state with a new instance id for `podName`.
    package init(podName: String) {
        self.instanceID = Self.makeInstanceID(podName: podName)
    }

    /// True once shutdown began: `/health` answers 503 so the balancer stops routing here.
    package var isDraining: Bool { drain.isDraining }

    /// Marks the worker as draining (SIGTERM received).
    package func startDraining() { drain.startDraining() }

    /// The last dependency check, nil before the first one finished.
    package var dependencies: DependencySnapshot? { snapshot.withLock { $0 } }

    /// Stores a dependency check result.
    package func store(_ value: DependencySnapshot) { snapshot.withLock { $0 = value } }

    /// Builds an instance id from the pod name: characters other than letters, digits, `-` and
    /// `_` become `-` (the orchestrator copies the id into a header), plus 8 random hex digits.
    package static func makeInstanceID(podName: String) -> String {
        let cleaned = String(podName.map { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") ? $0 : "-" })
        let suffix = String(format: "%08x", UInt32.random(in: .min ... .max))
        return "\(cleaned.isEmpty ? "ingest" : cleaned)-\(suffix)"
    }
}

/// One dependency check as `/health` reports it.
package struct DependencySnapshot: Sendable, Equatable {
    /// When the check ended (or timed out).
    package var checkedAt: Date
    /// One entry per dependency.
    package var statuses: [DependencyStatus]
    /// True when the check did not finish within the health-check timeout.
    package var timedOut: Bool

    /// A check result.
    package init(checkedAt: Date, statuses: [DependencyStatus], timedOut: Bool = false) {
        self.checkedAt = checkedAt
        self.statuses = statuses
        self.timedOut = timedOut
    }
}
