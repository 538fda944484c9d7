import IngestEmbeddings
import Testing

@Suite("Embedding batches")
struct EmbeddingBatcherTests {
    @Test func splitsByCount() {
        #expect(EmbeddingBatcher.batches(tokenCounts: Array(repeating: 1, count: 5), maxInputs: 2, maxTokens: 100) == [0..<2, 2..<4, 4..<5])
    }

    @Test func splitsByTokens() {
        #expect(EmbeddingBatcher.batches(tokenCounts: [10, 10, 10, 10, 10], maxInputs: 64, maxTokens: 25) == [0..<2, 2..<4, 4..<5])
    }

    @Test func oversizedInputGetsABatchOfItsOwn() {
        #expect(EmbeddingBatcher.batches(tokenCounts: [5, 100, 5, 5], maxInputs: 64, maxTokens: 20) == [0..<1, 1..<2, 2..<4])
    }

    @Test func emptyAndDegenerateLimits() {
        #expect(EmbeddingBatcher.batches(tokenCounts: [], maxInputs: 4, maxTokens: 10).isEmpty)
        #expect(EmbeddingBatcher.batches(tokenCounts: [1, 1], maxInputs: 0, maxTokens: 10) == [0..<1, 1..<2])
    }

    @Test func estimateIsAboutThreeBytesPerToken() {
        #expect(EmbeddingBatcher.estimatedTokens("") == 1)
        #expect(EmbeddingBatcher.estimatedTokens("abcdef") == 2)
        #expect(EmbeddingBatcher.estimatedTokens("abcdefg") == 3)
    }
}
