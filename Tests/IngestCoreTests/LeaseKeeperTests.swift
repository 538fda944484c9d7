import Foundation
import IngestCore
import IngestDocling
import IngestKit
import IngestTokenizer
import Logging
import Testing

/// Leases that hold through long documents (issue 21): the keeper renews a lease every TTL/3
/// while the document works, a document checks the lease right before it writes and swaps
/// (`lease_lost` when it is gone or ran out), and releases run in the keeper, so a cancelled
/// document's lease is released at once.
@Suite struct LeaseKeeperTests {
    let index = InMemoryIndex()

    func pipeline(converter: any DocumentConverter, _ configure: (inout PipelineSettings) -> Void = { _ in }) -> IngestPipeline {
        var settings = PipelineSettings()
        settings.index = "test"
        settings.maxTokens = 64
        settings.leaseSwapTimeout = .milliseconds(50)
        settings.leaseClockSkew = .milliseconds(10)
        configure(&settings)
        return IngestPipeline(converter: converter, embedder: FakeEmbedder(), index: index, tokenizer: WordPieceTokenizer.miniLM,
                              settings: settings, endpoints: .init(docling: "d", embeddings: "e", opensearch: "o"), logger: Logger(label: "test"))
    }

    static func version(_ n: Int) -> IngestRequest { LeaseTests.version(n) }
    static let source = LeaseTests.source

    func generations() async -> Set<String> {
        Set(await index.docs("test").values.filter { $0["source"]?.stringValue == Self.source }.compactMap { $0["generation"]?.stringValue })
    }

    /// A document that takes three TTLs keeps its lease: a second writer (which does not wait)
    /// meets it, instead of taking it over as expired and writing beside the first. Fails on
    /// the code before renewals: the lease ran out after one TTL.
    @Test func aDocumentLongerThanTheTTLKeepsItsLease() async throws {
        let (started, signal) = AsyncStream<Void>.makeStream()
        let slow = pipeline(converter: SlowConverter(delay: .milliseconds(2000), onStart: { _ = signal.yield(()) })) { $0.leaseTTL = .milliseconds(600) }
        let other = pipeline(converter: FakeConverter()) { $0.leaseTTL = .milliseconds(600); $0.leaseWait = .zero }
        let (first, second) = await slow.leases.withRunning {
            async let first = try? slow.ingest(Self.version(1))
            for await _ in started { break }
            try? await Task.sleep(for: .milliseconds(1300))  // past two TTLs
            let second = try? await other.ingest(Self.version(2))
            return (await first, second)
        }
        #expect(first?.status == .indexed, "\(String(describing: first))")
        #expect(second?.error?.reason == .leaseTimeout, "\(String(describing: second))")
        // The two checks before the write and the swap, plus at least one renewal in the background.
        #expect(slow.leases.counts.renewals >= 3, "renewed \(slow.leases.counts.renewals) times")
        #expect(await generations().count == 1)
        #expect(await index.leases.isEmpty)
    }

    /// The lease taken over while the document converted: it stops before writing, with the
    /// transient `lease_lost`, and writes nothing. Fails on the code before the checks (it wrote).
    @Test func aLeaseTakenOverMeanwhileFailsWithLeaseLostBeforeTheWrite() async throws {
        let stranger = LeaseOwner(process: "elsewhere", host: "another-host", pid: 42, token: 1)
        let index = index
        let p = pipeline(converter: SlowConverter(delay: .milliseconds(50), onStart: {
            await index.hold(index: "test", source: Self.source, by: stranger, for: .seconds(60))
        }))
        let outcome = try await p.ingest(Self.version(1))
        #expect(outcome.status == .failed)
        #expect(outcome.error?.reason == .leaseLost)
        #expect(outcome.error?.message.contains("no longer ours") == true)
        #expect(await index.docs("test").isEmpty)
        // Not released: it is the stranger's now.
        #expect(await index.leaseHolder(index: "test", source: Self.source)?.id == stranger.id)
    }

    /// Nothing renewed it (no keeper running) and it ran out while the document converted:
    /// `lease_lost` even though nobody took it yet.
    @Test func aLeaseThatRanOutFailsWithLeaseLost() async throws {
        let p = pipeline(converter: SlowConverter(delay: .milliseconds(400))) { $0.leaseTTL = .milliseconds(200) }
        let outcome = try await p.ingest(Self.version(1))
        #expect(outcome.error?.reason == .leaseLost)
        #expect(outcome.error?.message.contains("ran out") == true)
        #expect(await index.docs("test").isEmpty)
    }

    /// A cancelled document (abort, dropped connection, deadline, Ctrl-C) has its lease released
    /// at once by the keeper, though requests from the cancelled task fail. Fails on the code
    /// before the keeper: the release ran in the cancelled task and the lease stayed for the TTL.
    @Test func aCancelledDocumentsLeaseIsReleasedAtOnce() async throws {
        await index.setReleaseFailsWhenCancelled(true)
        let (started, signal) = AsyncStream<Void>.makeStream()
        let p = pipeline(converter: SlowConverter(delay: nil, onStart: { _ = signal.yield(()) })) { $0.leaseTTL = .seconds(600) }
        await p.leases.withRunning {
            let task = Task { try? await p.ingest(Self.version(1)) }
            for await _ in started { break }
            #expect(await index.leaseHolder(index: "test", source: Self.source) != nil)
            task.cancel()
            let outcome = await task.value
            #expect(outcome?.error?.reason == .cancelled)
            let clock = ContinuousClock()
            let deadline = clock.now + .seconds(2)
            while await index.leaseHolder(index: "test", source: Self.source) != nil, clock.now < deadline {
                try? await Task.sleep(for: .milliseconds(10))
            }
            #expect(await index.leaseHolder(index: "test", source: Self.source) == nil, "still held after a cancelled document")
        }
        #expect(p.leases.counts.releases == 1)
    }

    /// Finishing the keeper releases what is still held, each release bounded by its timeout, so
    /// a hung OpenSearch cannot hold up a shutdown.
    @Test func finishingReleasesWhatIsHeldWithinTheTimeout() async throws {
        let keeper = LeaseKeeper(index: index, timing: LeaseTiming(ttl: .seconds(60), writeMargin: .seconds(1), releaseTimeout: .milliseconds(200)), logger: Logger(label: "test"))
        let owner = LeaseOwner.next()
        defer { owner.finished() }
        #expect(try await index.acquireLease(index: "test", source: "a", owner: owner, ttl: .seconds(60)))
        keeper.hold(SourceLease(index: "test", source: "a", owner: owner), acquiredAt: .now)
        await keeper.withRunning {}
        #expect(await index.leaseHolder(index: "test", source: "a") == nil)

        let slow = LeaseOwner.next()
        defer { slow.finished() }
        #expect(try await index.acquireLease(index: "test", source: "b", owner: slow, ttl: .seconds(60)))
        await index.setReleaseDelay(.seconds(30))
        keeper.hold(SourceLease(index: "test", source: "b", owner: slow), acquiredAt: .now)
        let clock = ContinuousClock()
        let start = clock.now
        await keeper.release(SourceLease(index: "test", source: "b", owner: slow))  // not running: inline, bounded
        #expect(clock.now - start < .seconds(2))
    }

    /// The lease must outlive what a write needs, or every document would fail right away.
    @Test func aTTLShorterThanTheWriteMarginIsAConfigurationError() throws {
        var settings = PipelineSettings()
        settings.leaseTTL = .seconds(60)
        #expect(throws: IngestError.self) { try settings.validateLeaseTiming() }
        settings.leaseTTL = .seconds(120)
        try settings.validateLeaseTiming()
        #expect(settings.leaseTiming.renewInterval == .seconds(40))
        #expect(settings.leaseTiming.writeMargin == .seconds(65))
    }

    /// The wait for another holder backs off with RetryPolicy: 0.2 s doubling up to 1 s.
    @Test func theLeaseWaitBacksOffWithRetryPolicy() {
        let policy = IngestPipeline.leaseWaitPolicy
        #expect(policy.delay(afterAttempt: 1, elapsed: .zero, jitter: 0.5) == .milliseconds(200))
        #expect(policy.delay(afterAttempt: 2, elapsed: .zero, jitter: 0.5) == .milliseconds(400))
        #expect(policy.delay(afterAttempt: 9, elapsed: .zero, jitter: 0.99) == .seconds(1))
        #expect(policy.delay(afterAttempt: 1_000_000, elapsed: .zero, jitter: 0.5) != nil)
    }
}
