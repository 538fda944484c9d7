import IngestCore
import IngestKit
import Synchronization
import Testing

/// The embedder is checked once before work starts; what stops a run and what does not.
@Suite struct EmbedderProbeTests {
    final class Calls: Sendable {
        let count = Mutex(0)
        func next() -> Int { count.withLock { $0 += 1; return $0 } }
        var value: Int { count.withLock { $0 } }
    }

    @Test func oneProbeServesEveryConcurrentDocument() async throws {
        let calls = Calls()
        let probe = EmbedderProbe(model: "all-MiniLM-L6-v2", requestedDimensions: nil, endpoint: "in process") {
            _ = calls.next()
            try await Task.sleep(for: .milliseconds(50))
            return 384
        }
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<8 { group.addTask { try await probe.ensureReady() } }
            try await group.waitForAll()
        }
        try await probe.ensureReady()
        #expect(calls.value == 1)
    }

    @Test func anUnreachableServiceStopsAtOnceAndIsProbedAgainLater() async throws {
        let calls = Calls()
        let probe = EmbedderProbe(model: "m", requestedDimensions: nil, endpoint: "http://127.0.0.1:9/v1") {
            _ = calls.next()
            throw IngestError(.serviceUnavailable, "cannot reach http://127.0.0.1:9/v1/embeddings: connection refused", transient: true, transportFailure: .connectionRefused)
        }
        let error = try await #require(throws: IngestError.self) { try await probe.ensureReady() }
        #expect(error.isRunFatal && error.reason == .serviceUnavailable)
        await #expect(throws: IngestError.self) { try await probe.ensureReady() }
        #expect(calls.value == 2)
    }

    @Test func aFailingButReachableServiceLetsTheDocumentsRetry() async throws {
        let probe = EmbedderProbe(model: "m", requestedDimensions: nil, endpoint: "x") {
            throw IngestError(.embedFailed, "HTTP 503", transient: true)
        }
        try await probe.ensureReady()
        let slow = EmbedderProbe(model: "m", requestedDimensions: nil, endpoint: "x") {
            throw IngestError(.serviceUnavailable, "timed out", transient: true, transportFailure: .timedOut)
        }
        try await slow.ensureReady()
    }

    @Test func aKnownModelWithAnotherDimensionIsAConfigurationError() async throws {
        let probe = EmbedderProbe(model: "text-embedding-3-small", requestedDimensions: nil, endpoint: "http://127.0.0.1:18011/v1") { 384 }
        let error = try await #require(throws: IngestError.self) { try await probe.ensureReady() }
        #expect(error.reason == .configuration)
        #expect(error.message.contains("EMBEDDING_MODEL=text-embedding-3-small makes 1536-dimension vectors"))
    }

    @Test func anUnknownModelIsNotJudgedByItsDimension() async throws {
        let probe = EmbedderProbe(model: "nomic-embed-text", requestedDimensions: nil, endpoint: "x") { 768 }
        try await probe.ensureReady()
    }
}
