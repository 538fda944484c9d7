import IngestKit
import Testing

@Suite struct KnownEmbeddingModelTests {
    @Test func namesMatchWithoutCaseOrOrganisation() {
        #expect(KnownEmbeddingModel.named("all-MiniLM-L6-v2")?.dimension == 384)
        #expect(KnownEmbeddingModel.named("sentence-transformers/all-minilm-l6-v2")?.window == 256)
        #expect(KnownEmbeddingModel.named("text-embedding-3-large")?.dimension == 3072)
        #expect(KnownEmbeddingModel.named("nomic-embed-text") == nil)
    }

    @Test func dimensionsHonourShortenedVectorsWhereTheAPIOffersThem() throws {
        let small = try #require(KnownEmbeddingModel.named("text-embedding-3-small"))
        #expect(small.dimensionMismatch(vectorDimension: 1536, requested: nil, endpoint: "x") == nil)
        #expect(small.dimensionMismatch(vectorDimension: 512, requested: 512, endpoint: "x") == nil)
        let wrong = try #require(small.dimensionMismatch(vectorDimension: 384, requested: nil, endpoint: "http://127.0.0.1:18011/v1"))
        #expect(wrong.reason == .configuration)
        #expect(wrong.message.hasPrefix("EMBEDDING_MODEL=text-embedding-3-small makes 1536-dimension vectors, but http://127.0.0.1:18011/v1 answered with 384 dimensions"))
        let ada = try #require(KnownEmbeddingModel.named("text-embedding-ada-002"))
        #expect(ada.expectedDimension(requested: 256) == 1536)
    }

    @Test func aBudgetOverTheWindowIsRefused() throws {
        let minilm = try #require(KnownEmbeddingModel.named("all-MiniLM-L6-v2"))
        #expect(minilm.windowError(maxTokens: 256, setting: "--max-tokens") == nil)
        let error = try #require(minilm.windowError(maxTokens: 1024, setting: "--max-tokens"))
        #expect(error.reason == .configuration)
        #expect(error.message.hasPrefix("--max-tokens asks for chunks of 1024 tokens, more than the 256-token window of all-MiniLM-L6-v2"))
        #expect(minilm.windowError(maxTokens: 512, setting: "options.max_tokens", reason: .invalidInput)?.reason == .invalidInput)
    }
}
