import CEmbedKernels
import IngestKit
@testable import IngestLocalEmbeddings
import Testing

/// Running out of memory in the kernels is an error the caller sees, never `abort()` (issue 20):
/// the product leaves C untouched and says so, the forward pass turns that into an `IngestError`
/// naming what to lower, and the encoder works again afterwards.
@Suite struct KernelMemoryTests {
    /// A product whose packed B would need 4 EiB: the allocation really fails (no injected fault),
    /// and neither A nor B is read. Before issue 20 this aborted the process.
    @Test(arguments: KernelPath.supported)
    func anImpossibleProductReturnsENOMEMAndLeavesCUntouched(path: KernelPath) {
        let huge: Int32 = 1 << 30
        let a = [Float](repeating: 1, count: 16), b = [Float](repeating: 1, count: 16)
        var c: [Float] = [7, 7, 7]
        let result = ek_sgemm(path.rawValue, 1, 1, huge, huge, 1, a, huge, b, huge, false, &c, huge)
        #expect(result == Int32(EK_ENOMEM))
        #expect(c == [7, 7, 7])
    }

    /// The test hook fails this thread's next product; the one after it runs normally.
    @Test(arguments: KernelPath.supported)
    func anInjectedFailureFailsOneProductAndTheNextRuns(path: KernelPath) {
        let a: [Float] = [1, 2, 3, 4], b: [Float] = [1, 0, 0, 1]  // 2×2 · identity
        var c = [Float](repeating: .nan, count: 4)
        ek_test_fail_allocations(1)
        #expect(ek_sgemm(path.rawValue, 0, 2, 2, 2, 1, a, 2, b, 2, false, &c, 2) == Int32(EK_ENOMEM))
        #expect(c.allSatisfy { $0.isNaN }, "C was written by a product that failed")
        #expect(ek_sgemm(path.rawValue, 0, 2, 2, 2, 1, a, 2, b, 2, false, &c, 2) == path.rawValue)
        #expect(c == a)
    }

    /// Through the whole embedder: the batch fails with `embed_failed` and a message that says what
    /// ran out and what to lower; the process lives on and the next batch gives the same vectors
    /// as before the failure.
    @Test(arguments: KernelPath.supported)
    func aForwardPassOutOfMemoryIsAnErrorNotACrash(path: KernelPath) async throws {
        let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: try ModelFolder.require(), threads: 1, batchSize: 4), kernel: path)
        let texts = ["memory runs out here", "and for this text too"]
        let before = try await embedder.embed(texts)
        let error = await #expect(throws: IngestError.self) {
            try await BertEncoder.$allocationFailures.withValue(1) { try await embedder.embed(texts) }
        }
        #expect(error?.reason == .embedFailed)
        let message = error?.message ?? ""
        #expect(message.contains("ran out of memory") && message.contains("EMBEDDING_BATCH_SIZE") && message.contains("\(path) kernels"), "\(message)")
        #expect(try await embedder.embed(texts) == before)
    }
}
