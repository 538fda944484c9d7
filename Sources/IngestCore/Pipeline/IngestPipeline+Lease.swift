import IngestKit
import Logging

// MARK: - Per-source lease

extension IngestPipeline {
    /// Runs `body` holding the per-source lease in OpenSearch, so two processes ingesting two
    /// versions of one source cannot interleave (A writes gen1, B writes gen2, A deletes gen2,
    /// B deletes gen1: zero chunks). Waits for a lease held elsewhere, with ``RetryPolicy``'s
    /// back-off (0.2 s doubling to 1 s, jittered) up to INGEST_LEASE_WAIT_SECONDS and never past
    /// cancellation. While `body` runs, ``leases`` renews the lease every TTL/3; `body` calls
    /// ``LeaseKeeper/confirm(_:before:)`` before it writes. The release is handed to the keeper
    /// on every path, cancellation included, so it does not run in a cancelled task.
    package func withSourceLease<T: Sendable>(index indexName: String, source: String, _ body: (SourceLease) async throws -> T) async throws -> T {
        let lease = SourceLease(index: indexName, source: source, owner: LeaseOwner.next())
        defer { lease.owner.finished() }
        let acquiredAt = try await waitForLease(lease)
        leases.hold(lease, acquiredAt: acquiredAt)
        let result: T
        do {
            result = try await body(lease)
        } catch {
            await leases.release(lease)
            throw error
        }
        await leases.release(lease)
        return result
    }

    /// How the wait for a lease held elsewhere backs off: the one back-off type of the package.
    /// Unbounded here: the wait's deadline (INGEST_LEASE_WAIT_SECONDS) is checked by the loop,
    /// which also shortens the last sleep to it, so the last attempt comes at the deadline.
    package static let leaseWaitPolicy = RetryPolicy.unbounded(baseDelay: .milliseconds(200), maxDelay: .seconds(1))

    /// Takes the lease, waiting while another process holds it. Returns when the winning request
    /// started (the lease is certainly ours until then + TTL).
    /// - Throws: `lease_timeout` when the holder kept it past INGEST_LEASE_WAIT_SECONDS. Since
    ///   holders renew, that holder is alive and still ingesting this source: the document fails
    ///   as transient (the CLI counts it failed and exits 1; the worker answers it retryable:
    ///   JSON-RPC execution failed with `reason: lease_timeout`, gRPC RESOURCE_UNAVAILABLE).
    private func waitForLease(_ lease: SourceLease) async throws -> ContinuousClock.Instant {
        let clock = ContinuousClock()
        let start = clock.now
        var attempt = 0
        while true {
            attempt += 1
            let asked = clock.now
            if try await index.acquireLease(index: lease.index, source: lease.source, owner: lease.owner, ttl: settings.leaseTTL) { return asked }
            let left = settings.leaseWait - (clock.now - start)
            guard left > .zero, let wait = Self.leaseWaitPolicy.delay(afterAttempt: attempt, elapsed: .zero, jitter: Double.random(in: 0..<1)) else {
                throw IngestError(.leaseTimeout, "another process has been ingesting \(redactingCredentials(lease.source)) into index '\(lease.index)' for more than INGEST_LEASE_WAIT_SECONDS (\(Int(settings.leaseWait.seconds)) s) and keeps renewing its lease, so it is still working on it (a large document can take many minutes in Docling); run this one again once that process is done (a worker's flow can retry it: it is reported as transient), or raise INGEST_LEASE_WAIT_SECONDS", transient: true)
            }
            if attempt == 1 {
                logger.info("waiting for another process to finish this source", metadata: ["source": "\(redactingCredentials(lease.source))", "index": "\(lease.index)"])
            }
            try await Task.sleep(for: min(wait, left))
        }
    }
}
