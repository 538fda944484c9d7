import Foundation
import IngestCore
import ServiceLifecycle

/// Checks Docling, the embedder and OpenSearch in the background and stores the result for
/// `/health`, so the health answer (polled every 10 s with a 2 s timeout by the balancer, 5 s by
/// k8s probes) never waits on a slow dependency. A service so it lives in the `ServiceGroup`.
package struct DependencyMonitor<Ingester: DocumentIngesting>: Service {
    let ingester: Ingester
    let state: WorkerState
    let interval: Duration
    let timeout: Duration

    /// Checks `ingester`'s dependencies every `interval`, each check bounded by `timeout`.
    package init(ingester: Ingester, state: WorkerState, interval: Duration, timeout: Duration) {
        self.ingester = ingester
        self.state = state
        self.interval = interval
        self.timeout = timeout
    }

    /// Refreshes until graceful shutdown.
    package func run() async throws {
        await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                await refresh()
                try? await Task.sleep(for: interval)
            }
        }
    }

    /// Runs one check, bounded by the timeout. A check that overruns is recorded as timed out at
    /// once (keeping the previous statuses) and then cancelled.
    package func refresh() async {
        let ingester = self.ingester
        let timeout = self.timeout
        await withTaskGroup(of: [DependencyStatus]?.self) { group in
            group.addTask { await ingester.checkDependencies() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            let first = await group.next() ?? nil
            if let statuses = first {
                state.store(DependencySnapshot(checkedAt: Date(), statuses: statuses))
            } else if !Task.isCancelled {
                let previous = state.dependencies?.statuses ?? []
                state.store(DependencySnapshot(checkedAt: Date(), statuses: previous, timedOut: true))
            }
            group.cancelAll()
        }
    }
}
