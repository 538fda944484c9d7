import Foundation
import IngestCore
import IngestKit
import Logging
import NIOCore
import Synchronization
import Testing

/// INGEST_MAX_INFLIGHT_BODY_BYTES covers documents, not only request bodies: a URL download
/// reserves its bytes in the execution's hold before it reads them and keeps them until the
/// execution ends, so executions whose documents together exceed the budget run one after the
/// other, a document above the whole budget fails at once, and a wait past the deadline fails
/// as `resource_unavailable`.
@Suite struct DocumentBudgetTests {
    /// Serves one `length`-byte body per GET (declaring it when `declares`), counting GETs in flight.
    final class Server: URLConnector, Sendable {
        let length: Int
        let declares: Bool
        let gets = Mutex(0)
        let bodies = Mutex(0)
        init(length: Int, declares: Bool = true) { self.length = length; self.declares = declares }

        func get(_ url: HTTPURL, connectingTo address: String, timeout: Duration, receive: (DownloadPart) throws -> Bool) async throws {
            gets.withLock { $0 += 1 }
            let headers = declares ? [(name: "content-length", value: String(length))] : []
            guard try receive(.head(DownloadHead(status: 200, headers: headers))) else { return }
            bodies.withLock { $0 += 1 }
            _ = try receive(.body(ByteBuffer(repeating: 0x41, count: length)))
        }
    }

    /// Downloads the request's URL as the pipeline does, then lingers (as conversion would) while
    /// counting executions that hold their document at once.
    final class Ingester: DocumentIngesting {
        let fetcher: URLFetcher
        let linger: Duration
        private let state = Mutex((now: 0, peak: 0))
        var peak: Int { state.withLock { $0.peak } }
        init(server: Server, linger: Duration = .milliseconds(200)) {
            fetcher = URLFetcher(connector: server, resolve: { _ in ["203.0.113.5"] })
            self.linger = linger
        }

        func ingest(_ request: IngestRequest) async throws -> DocumentOutcome {
            guard case .url(let url) = request.input else { throw IngestError(.internalError, "test wants a URL") }
            let fetched = try await fetcher.fetch(url, maxBytes: 1000, allowHosts: [], timeout: .seconds(5))
            state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) }
            defer { state.withLock { $0.now -= 1 } }
            try await Task.sleep(for: linger)
            return DocumentOutcome(source: url, documentID: "d", filename: fetched.filename, status: .indexed, chunks: 1, index: "docs", warnings: [], timings: .init())
        }
        func checkDependencies() async -> [DependencyStatus] { [] }
    }

    struct NoBlobs: BlobReader {
        func blob(id: String) async throws -> BlobContent { throw IngestError(.invalidInput, "none") }
    }

    static let logger = Logger(label: "test")

    func execute(_ component: IngestComponent, _ url: String = "http://docs.example/a.md") async throws -> ComponentResult {
        try await component.execute(try ComponentInput.parse(["source": .string(url)]), blobs: NoBlobs(), logger: Self.logger)
    }

    @Test func aURLDeclaredOverTheWholeBudgetFailsAtOnce() async throws {
        let server = Server(length: 700)
        let budget = DocumentBudget(limitBytes: 500, maxFileBytes: 1000)
        let component = IngestComponent(ingester: Ingester(server: server), executeTimeout: .seconds(30), budget: budget)
        guard case .failure(let failure) = try await execute(component) else { Issue.record("expected a failure"); return }
        #expect(failure.reason == .tooLarge)
        #expect(failure.message.contains("INGEST_MAX_INFLIGHT_BODY_BYTES (500)"), "\(failure.message)")
        #expect(server.bodies.withLock { $0 } == 0)  // refused at the head, the body never read
        #expect(budget.limiter.inUse == 0)
    }

    @Test func twoURLsThatTogetherExceedTheBudgetRunOneAfterTheOther() async throws {
        let ingester = Ingester(server: Server(length: 400))
        let budget = DocumentBudget(limitBytes: 600, maxFileBytes: 1000)
        let component = IngestComponent(ingester: ingester, executeTimeout: .seconds(30), budget: budget)
        try await withThrowingTaskGroup(of: ComponentResult.self) { group in
            for name in ["a", "b"] { group.addTask { try await execute(component, "http://docs.example/\(name).md") } }
            for try await result in group {
                guard case .success = result else { Issue.record("expected success: \(result)"); continue }
            }
        }
        #expect(ingester.peak == 1)
        #expect(budget.limiter.inUse == 0)
    }

    @Test func twoURLsThatFitTogetherRunTogether() async throws {
        let ingester = Ingester(server: Server(length: 250), linger: .seconds(1))
        // 1000 bytes are reserved before each GET (the length is known only at the head), 250
        // kept after it: both fit once the first has trimmed its reservation.
        let budget = DocumentBudget(limitBytes: 1250, maxFileBytes: 1000)
        let component = IngestComponent(ingester: ingester, executeTimeout: .seconds(30), budget: budget)
        try await withThrowingTaskGroup(of: Void.self) { group in
            for name in ["a", "b"] { group.addTask { _ = try await execute(component, "http://docs.example/\(name).md") } }
            try await group.waitForAll()
        }
        #expect(ingester.peak == 2)
    }

    @Test func aWaitPastTheDeadlineFailsAsResourceUnavailable() async throws {
        let budget = DocumentBudget(limitBytes: 600, maxFileBytes: 1000)
        // Another execution holds most of the budget for longer than this one's deadline.
        let other = BudgetHold(budget: budget)
        try await other.reserve(upTo: 500)
        defer { other.releaseAll() }
        let server = Server(length: 400)
        let component = IngestComponent(ingester: Ingester(server: server), executeTimeout: .milliseconds(300), budget: budget)
        guard case .failure(let failure) = try await execute(component) else { Issue.record("expected a failure"); return }
        #expect(failure.reason == .resourceUnavailable)
        #expect(failure.message.contains("INGEST_MAX_INFLIGHT_BODY_BYTES"), "\(failure.message)")
        #expect(server.gets.withLock { $0 } == 0)  // nothing was downloaded
        #expect(budget.limiter.inUse == 500)
    }

    @Test func aSlowDocumentPastTheDeadlineIsStillCancelled() async throws {
        let budget = DocumentBudget(limitBytes: 600, maxFileBytes: 1000)
        let component = IngestComponent(ingester: Ingester(server: Server(length: 100), linger: .seconds(5)), executeTimeout: .milliseconds(200), budget: budget)
        guard case .failure(let failure) = try await execute(component) else { Issue.record("expected a failure"); return }
        #expect(failure.reason == .cancelled)
        #expect(budget.limiter.inUse == 0)
    }

    @Test func anUndeclaredBodyStopsAtTheWholeBudget() async throws {
        // INGEST_MAX_FILE_BYTES above the budget: the reservation is the whole budget, and the
        // body may not pass it.
        let budget = DocumentBudget(limitBytes: 500, maxFileBytes: 1000)
        let component = IngestComponent(ingester: Ingester(server: Server(length: 700, declares: false)), executeTimeout: .seconds(30), budget: budget)
        guard case .failure(let failure) = try await execute(component) else { Issue.record("expected a failure"); return }
        #expect(failure.reason == .tooLarge)
        #expect(budget.limiter.inUse == 0)
    }

    /// Two executions that each hold a little (a gRPC assignment's input, counted on receipt)
    /// and then each need most of the budget (a blob of unknown size) run one after the other:
    /// a hold that waits holds nothing, so they never wait for each other. Before, each kept its
    /// input and waited for the rest until its deadline (seen live: two runs stuck for 15 min).
    @Test(.timeLimit(.minutes(1))) func twoHoldsThatEachHoldALittleAndNeedMostDoNotWaitForEachOther() async throws {
        let budget = DocumentBudget(limitBytes: 1000, maxFileBytes: 10_000)
        let first = BudgetHold(budget: budget), second = BudgetHold(budget: budget)
        try await first.reserve(upTo: 100)
        try await second.reserve(upTo: 100)
        try await withThrowingTaskGroup(of: Int.self) { group in
            for hold in [first, second] {
                group.addTask {
                    let added = try await hold.reserve(upTo: 10_000)
                    let held = hold.held
                    hold.releaseAll()
                    #expect(added == 900)
                    return held
                }
            }
            for try await held in group { #expect(held == 1000) }
        }
        #expect(budget.limiter.inUse == 0)
    }

    @Test func theJSONBlobCapIsFourThirdsPlus64KiB() {
        #expect(DocumentBudget(limitBytes: 1, maxFileBytes: 3_000).maxJSONBlobBytes == 4_000 + 65_536)
    }

    @Test func aRawBlobOverTheFileLimitIsRefused() {
        let error = #expect(throws: IngestError.self) { try BlobLimits.checkRaw(bytes: 1001, blobID: "b1", maxFileBytes: 1000) }
        #expect(error?.reason == .tooLarge)
        #expect(error?.message.contains("INGEST_MAX_FILE_BYTES") == true)
        #expect(throws: Never.self) { try BlobLimits.checkRaw(bytes: 1000, blobID: "b1", maxFileBytes: 1000) }
    }
}
