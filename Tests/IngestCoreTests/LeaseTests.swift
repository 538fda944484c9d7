import Foundation
import IngestCore
import IngestKit
import IngestTokenizer
import Logging
import Testing

/// The per-source lease in the pipeline: two versions of one source ingested at the same moment
/// end with exactly one generation; the lease is released on every path; a lease held elsewhere
/// is waited for (bounded), and one left by a finished acquisition of this process is taken over.
@Suite struct LeaseTests {
    let converter = FakeConverter()
    let embedder = FakeEmbedder()
    let index = InMemoryIndex()

    func pipeline(_ configure: (inout PipelineSettings) -> Void = { _ in }) -> IngestPipeline {
        var settings = PipelineSettings()
        settings.index = "test"
        settings.maxTokens = 64
        configure(&settings)
        return IngestPipeline(converter: converter, embedder: embedder, index: index, tokenizer: WordPieceTokenizer.miniLM,
                              settings: settings, endpoints: .init(docling: "d", embeddings: "e", opensearch: "o"), logger: Logger(label: "test"))
    }

    static func version(_ n: Int) -> IngestRequest {
        let text = "# Notes v\(n)\n\n" + (1...12).map { "Version \(n), paragraph \($0), says something a little different." }.joined(separator: "\n\n")
        return IngestRequest(input: .inline(filename: "notes.md", bytes: Data(text.utf8)), source: "shared/notes.md")
    }

    /// The identity of ``version(_:)``'s uploads (its `source_key` inside the anonymous namespace).
    static let source = DocumentInput.uploadIdentity(owner: nil, key: "shared/notes.md")

    func generations(_ source: String = LeaseTests.source) async -> Set<String> {
        Set(await index.docs("test").values.filter { $0["source"]?.stringValue == source }.compactMap { $0["generation"]?.stringValue })
    }

    @Test func twoVersionsAtOnceEndWithExactlyOneGeneration() async throws {
        let p = pipeline()
        // While version 1 writes, version 2 starts: it must wait for the lease instead of
        // writing and swapping in between (which could leave the source with no chunks).
        let (writing, signal) = AsyncStream<Void>.makeStream()
        await index.setOnWrite { _ in
            signal.yield(())
            try? await Task.sleep(for: .milliseconds(300))
        }
        let outcomes = try await withThrowingTaskGroup(of: DocumentOutcome.self) { group in
            group.addTask { try await p.ingest(Self.version(1)) }
            group.addTask {
                for await _ in writing { break }
                return try await p.ingest(Self.version(2))
            }
            var all: [DocumentOutcome] = []
            for try await outcome in group {
                all.append(outcome)
                signal.finish()
            }
            return all
        }
        #expect(outcomes.allSatisfy { $0.status == .indexed }, "\(outcomes)")
        #expect(await index.refusals > 0, "the second version never met the first one's lease")
        let gens = await generations()
        #expect(gens.count == 1)
        let last = try #require(outcomes.last)
        let stored = await index.docs("test").values.filter { $0["source"]?.stringValue == Self.source }
        #expect(stored.count == last.chunks)
        #expect(Set(stored.compactMap { $0["document_id"]?.stringValue }) == [last.documentID])
        #expect(await index.leases.isEmpty)
    }

    @Test func releasedAfterSuccessAndAfterFailure() async throws {
        let p = pipeline()
        let ok = try await p.ingest(Self.version(1))
        #expect(ok.status == .indexed)
        #expect(await index.leases.isEmpty)
        #expect(await index.releases == 1)

        await index.setFailure(IngestError(.indexRejected, "mapping"))
        let failed = try await p.ingest(Self.version(2))
        #expect(failed.status == .failed)
        #expect(failed.error?.reason == .indexRejected)
        #expect(await index.leases.isEmpty)
        #expect(await index.releases == 2)
    }

    @Test func unchangedSourceNeedsNoLease() async throws {
        let p = pipeline()
        _ = try await p.ingest(Self.version(1))
        let acquisitions = await index.acquisitions
        let again = try await p.ingest(Self.version(1))
        #expect(again.status == .unchanged)
        #expect(await index.acquisitions == acquisitions)
    }

    @Test func leaseHeldElsewhereFailsAfterTheWaitWithATypedReason() async throws {
        let stranger = LeaseOwner(process: "elsewhere", host: "another-host", pid: 42, token: 1)
        await index.hold(index: "test", source: Self.source, by: stranger, for: .seconds(60))
        let p = pipeline { $0.leaseWait = .milliseconds(500) }
        let clock = ContinuousClock()
        let start = clock.now
        let outcome = try await p.ingest(Self.version(1))
        #expect(outcome.status == .failed)
        #expect(outcome.error?.reason == .leaseTimeout)
        #expect(outcome.error?.message.contains("INGEST_LEASE_WAIT_SECONDS") == true)
        #expect(clock.now - start >= .milliseconds(500))
        #expect(converter.calls == 0)
        #expect(await index.docs("test").isEmpty)
    }

    @Test func expiredLeaseIsTakenOver() async throws {
        let stranger = LeaseOwner(process: "elsewhere", host: "another-host", pid: 42, token: 1)
        await index.hold(index: "test", source: Self.source, by: stranger, for: .milliseconds(300))
        let outcome = try await pipeline { $0.leaseWait = .seconds(5) }.ingest(Self.version(1))
        #expect(outcome.status == .indexed)
    }

    @Test func abandonedLeasesAreTakenOverAtOnce() async throws {
        // Left by a finished acquisition of this process (a release lost to cancellation).
        let mine = LeaseOwner.next()
        mine.finished()
        await index.hold(index: "test", source: Self.source, by: mine, for: .seconds(600))
        let p = pipeline { $0.leaseWait = .zero }
        #expect(try await p.ingest(Self.version(1)).status == .indexed)

        // Left by a process of this host that is gone (a CLI killed with SIGKILL).
        let dead = LeaseOwner(process: "dead", host: LeaseOwner.thisHost, pid: Int32.max, token: 7, pidNamespace: LeaseOwner.thisPIDNamespace)
        await index.hold(index: "test", source: Self.source, by: dead, for: .seconds(600))
        #expect(try await p.ingest(Self.version(2)).status == .indexed)

        // Held by a live process of this host (pid 1): not taken over.
        let live = LeaseOwner(process: "live", host: LeaseOwner.thisHost, pid: 1, token: 7, pidNamespace: LeaseOwner.thisPIDNamespace)
        await index.hold(index: "test", source: Self.source, by: live, for: .seconds(600))
        #expect(try await p.ingest(Self.version(3)).error?.reason == .leaseTimeout)
    }

    /// A dead holder from another PID namespace (a container sharing our host name) is not taken
    /// over at once: its pid means nothing here. Its lease is taken once it expires.
    @Test func aDeadHolderOfAnotherPIDNamespaceWaitsForTheExpiry() async throws {
        let other = LeaseOwner(process: "container-b", host: LeaseOwner.thisHost, pid: Int32.max, token: 7, pidNamespace: "pid:[1]")
        // 1.5 s: long enough that a loaded machine still meets it before it expires.
        await index.hold(index: "test", source: Self.source, by: other, for: .milliseconds(1500))
        #expect(try await pipeline { $0.leaseWait = .zero }.ingest(Self.version(1)).error?.reason == .leaseTimeout)
        #expect(try await pipeline { $0.leaseWait = .seconds(5) }.ingest(Self.version(1)).status == .indexed)
    }
}
