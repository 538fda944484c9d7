import IngestKit
import Logging
import Synchronization

/// One acquisition of a source's lease: which index's lease index, which source, by whom.
package struct SourceLease: Sendable, Hashable {
    package var index: String
    package var source: String
    package var owner: LeaseOwner

    package init(index: String, source: String, owner: LeaseOwner) {
        self.index = index
        self.source = source
        self.owner = owner
    }

    package static func == (a: SourceLease, b: SourceLease) -> Bool {
        a.index == b.index && a.source == b.source && a.owner.id == b.owner.id
    }

    package func hash(into hasher: inout Hasher) {
        hasher.combine(index)
        hasher.combine(source)
        hasher.combine(owner.id)
    }
}

/// How long leases live and what a document must have left of one before it writes.
package struct LeaseTiming: Sendable, Equatable {
    /// INGEST_LEASE_TTL_SECONDS: how long a lease outlives its last renewal.
    package var ttl: Duration
    /// What the lease must still have after a renewal before a write or a swap goes on: the
    /// swap's own timeout (OPENSEARCH_TIMEOUT_SECONDS) plus INGEST_LEASE_CLOCK_SKEW_SECONDS.
    package var writeMargin: Duration
    /// Bound on one release: a release never holds up a shutdown or a cancelled document.
    package var releaseTimeout: Duration

    package init(ttl: Duration, writeMargin: Duration, releaseTimeout: Duration = .seconds(5)) {
        self.ttl = ttl
        self.writeMargin = writeMargin
        self.releaseTimeout = releaseTimeout
    }

    /// Renewals come every TTL/3, so two in a row can fail before the lease runs out.
    package var renewInterval: Duration { ttl / 3 }
}

/// Keeps the per-source leases of this process alive and gives them back: it renews every held
/// lease each TTL/3 (a conditional write of the lease document, so a lease taken over meanwhile is
/// noticed, never overwritten) and runs every release with its own short timeout.
///
/// The runtime owns it: the worker runs it as a service of its `ServiceGroup` (shut down after the
/// documents drained), the CLI around its batch (``withRunning(_:)``). A document hands its release
/// to the keeper and returns, so a document that was cancelled (abort, dropped connection,
/// deadline, Ctrl-C) has its lease released at once, by a task that is not the cancelled one.
/// When the keeper is not running (unit tests, one-off calls), releases run inline and nothing
/// is renewed.
package final class LeaseKeeper: Sendable {
    package let index: any ChunkIndex
    package let timing: LeaseTiming
    let logger: Logger

    private struct Held {
        /// Until when the lease is certainly ours: the start of its last successful write + TTL.
        var confirmedUntil: ContinuousClock.Instant
        var renewedAt: ContinuousClock.Instant
        var lost = false
        var renewing = false
    }

    private struct State {
        var held: [SourceLease: Held] = [:]
        var running = false
        var renewals = 0
        var releases = 0
    }

    private let state = Mutex(State())
    private let releases: AsyncStream<SourceLease>
    private let releaseQueue: AsyncStream<SourceLease>.Continuation

    package init(index: any ChunkIndex, timing: LeaseTiming, logger: Logger) {
        self.index = index
        self.timing = timing
        self.logger = logger
        let (stream, continuation) = AsyncStream.makeStream(of: SourceLease.self)
        releases = stream
        releaseQueue = continuation
    }

    // MARK: - Used by a document

    /// Starts keeping `lease`, taken by a request that started at `acquiredAt`.
    package func hold(_ lease: SourceLease, acquiredAt: ContinuousClock.Instant) {
        state.withLock { $0.held[lease] = Held(confirmedUntil: acquiredAt + timing.ttl, renewedAt: acquiredAt) }
    }

    /// Renews `lease` now and returns only when it has at least ``LeaseTiming/writeMargin`` left:
    /// called right before a generation is written and before the swap.
    /// - Throws: ``IngestError`` `lease_lost` when the lease is gone, was taken over (409),
    ///   ran out before this renewal, or the renewal came back too late; the index's own errors
    ///   (`service_unavailable`, …) when it could not be asked.
    package func confirm(_ lease: SourceLease, before step: String) async throws {
        let clock = ContinuousClock()
        let start = clock.now
        let known = state.withLock { $0.held[lease] }
        guard let known, !known.lost else { throw lost(lease, step, "another process took it over") }
        guard start < known.confirmedUntil else {
            markLost(lease)
            throw lost(lease, step, "it ran out (INGEST_LEASE_TTL_SECONDS, \(Int(timing.ttl.seconds)) s) before it could be renewed")
        }
        guard try await index.renewLease(index: lease.index, source: lease.source, owner: lease.owner, ttl: timing.ttl) else {
            markLost(lease)
            throw lost(lease, step, "another process took it over")
        }
        renewed(lease, startedAt: start)
        let left = start + timing.ttl - clock.now
        guard left >= timing.writeMargin else {
            throw lost(lease, step, "its renewal took so long that only \(Int(left.seconds)) s are left, under the \(Int(timing.writeMargin.seconds)) s the step needs (OPENSEARCH_TIMEOUT_SECONDS + INGEST_LEASE_CLOCK_SKEW_SECONDS)")
        }
    }

    /// Stops keeping `lease` and gives it back: handed to the running keeper (this returns at
    /// once, even from a cancelled task), or run here when the keeper is not running.
    package func release(_ lease: SourceLease) async {
        let running = state.withLock { state -> Bool in
            state.held[lease] = nil
            return state.running
        }
        if running, case .enqueued = releaseQueue.yield(lease) { return }
        await releaseNow(lease)
    }

    // MARK: - Run by the runtime

    /// Renews held leases every TTL/3 and runs the releases handed over, until ``finish()``
    /// (or cancellation); then releases whatever is still held and returns once every release
    /// is done or timed out.
    package func run() async {
        state.withLock { $0.running = true }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.renewWhileRunning() }
            await withDiscardingTaskGroup { releasing in
                for await lease in releases {
                    releasing.addTask { await self.releaseNow(lease) }
                }
                let left = state.withLock { state -> [SourceLease] in
                    state.running = false
                    defer { state.held = [:] }
                    return Array(state.held.keys)
                }
                for lease in left {
                    releasing.addTask { await self.releaseNow(lease) }
                }
            }
            group.cancelAll()
        }
    }

    /// Ends ``run()``: releases queued before this still run.
    package func finish() {
        releaseQueue.finish()
    }

    /// Runs `body` with the keeper running beside it, then drains it (the CLI's batch).
    package func withRunning<T: Sendable>(_ body: @Sendable () async -> T) async -> T {
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.run() }
            // `run()` marks itself running from its own task: wait for it, so the body's first
            // lease is already renewed by it.
            while !state.withLock({ $0.running }) { await Task.yield() }
            let result = await body()
            finish()
            await group.waitForAll()
            return result
        }
    }

    /// Renewals and releases done, for tests and metrics.
    package var counts: (renewals: Int, releases: Int) {
        state.withLock { ($0.renewals, $0.releases) }
    }

    // MARK: - Inside

    private func renewWhileRunning() async {
        // A tick finer than the interval, so a lease taken between ticks is renewed on time.
        let tick = max(timing.renewInterval / 4, .milliseconds(20))
        while true {
            do { try await Task.sleep(for: tick) } catch { return }
            let now = ContinuousClock.now
            let due = state.withLock { state -> [SourceLease] in
                var due: [SourceLease] = []
                for (lease, held) in state.held where !held.lost && !held.renewing && now - held.renewedAt >= timing.renewInterval {
                    state.held[lease]?.renewing = true
                    due.append(lease)
                }
                return due
            }
            await withDiscardingTaskGroup { group in
                for lease in due { group.addTask { await self.renewInBackground(lease) } }
            }
        }
    }

    private func renewInBackground(_ lease: SourceLease) async {
        let start = ContinuousClock.now
        do {
            if try await index.renewLease(index: lease.index, source: lease.source, owner: lease.owner, ttl: timing.ttl) {
                renewed(lease, startedAt: start)
            } else {
                markLost(lease)
                logger.warning("lost the lease of a source being ingested: another process took it over; the document fails with lease_lost before it writes", metadata: ["source": "\(redactingCredentials(lease.source))", "index": "\(lease.index)"])
            }
        } catch {
            // Tried again next tick; the lease is only lost once it runs out (checked before writing).
            state.withLock { $0.held[lease]?.renewing = false }
            logger.warning("could not renew a lease; trying again", metadata: ["source": "\(redactingCredentials(lease.source))", "error": "\(error)"])
        }
    }

    private func renewed(_ lease: SourceLease, startedAt start: ContinuousClock.Instant) {
        state.withLock { state in
            state.renewals += 1
            guard var held = state.held[lease] else { return }
            held.confirmedUntil = max(held.confirmedUntil, start + timing.ttl)
            held.renewedAt = max(held.renewedAt, start)
            held.renewing = false
            state.held[lease] = held
        }
    }

    private func markLost(_ lease: SourceLease) {
        state.withLock {
            $0.held[lease]?.lost = true
            $0.held[lease]?.renewing = false
        }
    }

    private func lost(_ lease: SourceLease, _ step: String, _ why: String) -> IngestError {
        IngestError(.leaseLost, "stopped before \(step) of \(redactingCredentials(lease.source)): its lease in index '\(lease.index)' is no longer ours (\(why)), so another process may be ingesting it; run it again (the source is left as the other process writes it)", transient: true)
    }

    /// One release, bounded by ``LeaseTiming/releaseTimeout``; a failure leaves the lease to its TTL.
    private func releaseNow(_ lease: SourceLease) async {
        let index = index
        let done = await withTaskGroup(of: Bool.self) { group in
            group.addTask {
                do {
                    try await index.releaseLease(index: lease.index, source: lease.source, owner: lease.owner)
                    return true
                } catch {
                    return false
                }
            }
            group.addTask {
                try? await Task.sleep(for: self.timing.releaseTimeout)
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        if done {
            state.withLock { $0.releases += 1 }
        } else {
            logger.warning("could not release a lease in time; it expires after INGEST_LEASE_TTL_SECONDS", metadata: ["source": "\(redactingCredentials(lease.source))", "index": "\(lease.index)", "timeout_seconds": "\(Int(timing.releaseTimeout.seconds))"])
        }
    }
}
