import Foundation
import IngestChunking
import IngestCore
import IngestKit
import IngestTokenizer
import Logging
import Testing

/// EMBEDDING_PROVIDER: read once, part of the generation, carried by every chunk; unset, the
/// generation and the chunks are exactly what they were before the setting existed.
@Suite struct EmbeddingProviderTests {
    /// The legacy fingerprint, byte for byte: the provider adds no key when unset, so every
    /// stored generation (and `_id`) stays valid.
    @Test func unsetProviderKeepsTheFingerprintByteForByte() {
        let settings = GenerationSettings(chunkerVersion: "c1", tokenizer: "t", maxTokens: 256, doclingOptions: ["do_ocr": false], embeddingModel: "all-MiniLM-L6-v2")
        #expect(settings.fingerprint(documentID: "d") == #"{"chunker":"c1","docling":{"do_ocr":false},"document_id":"d","embedding_model":"all-MiniLM-L6-v2","max_tokens":256,"tokenizer":"t"}"#)
        #expect(DocumentIdentity(source: "s", documentID: "d", settings: settings).generation == String(SHA256.hex(settings.fingerprint(documentID: "d")).prefix(16)))
    }

    @Test func theProviderChangesTheGeneration() {
        let base = GenerationSettings(tokenizer: "t", maxTokens: 256, doclingOptions: [:], embeddingModel: "m")
        var openai = base; openai.embeddingProvider = "openai"
        var openaiLike = base; openaiLike.embeddingProvider = "openai_like"
        let generations = [base, openai, openaiLike].map { DocumentIdentity(source: "s", documentID: "d", settings: $0).generation }
        #expect(Set(generations).count == 3)
        #expect(openai.fingerprint(documentID: "d").contains(#""embedding_provider":"openai""#))
    }

    @Test func readsTheProviderLowerCased() throws {
        let settings = try PipelineSettings.fromEnvironment(Environment(["EMBEDDING_PROVIDER": " OpenAI_Like ", "EMBEDDING_MODEL": "all-MiniLM-L6-v2"]), forWorker: false)
        #expect(settings.embeddingProvider == "openai_like")
        #expect(try PipelineSettings.fromEnvironment(Environment([:]), forWorker: false).embeddingProvider == nil)
        #expect(try PipelineSettings.fromEnvironment(Environment(["EMBEDDING_PROVIDER": ""]), forWorker: false).embeddingProvider == nil)
        #expect(try PipelineSettings.embeddingSpace(Environment(["EMBEDDING_PROVIDER": "openai"])) == EmbeddingSpace(model: "text-embedding-3-small", provider: "openai"))
    }

    @Test(arguments: ["openai:x", "open ai", "openai/v1"])
    func rejectsWhatIsNotAProviderKey(value: String) {
        #expect {
            _ = try PipelineSettings.fromEnvironment(Environment(["EMBEDDING_PROVIDER": value]), forWorker: false)
        } throws: { error in
            let error = error as? IngestError
            return error?.reason == .configuration && error?.message.contains("EMBEDDING_PROVIDER") == true
        }
    }

    /// The pipeline prepares the space's field and writes chunks that carry the provider.
    @Test func chunksCarryTheProviderAndThePreparedSpace() async throws {
        let dir = NSTemporaryDirectory() + "ingest-provider-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        let path = dir + "/a.md"
        try "# Title\n\nSome text about backups.".write(toFile: path, atomically: true, encoding: .utf8)
        let index = InMemoryIndex()
        let embedder = FakeEmbedder()
        func pipeline(provider: String?) -> IngestPipeline {
            var settings = PipelineSettings()
            settings.index = "test"
            settings.embeddingProvider = provider
            return IngestPipeline(converter: FakeConverter(), embedder: embedder, index: index, tokenizer: WordPieceTokenizer.miniLM,
                                  settings: settings, endpoints: .init(docling: "d", embeddings: "e", opensearch: "o"), logger: Logger(label: "test"))
        }
        let legacy = try await pipeline(provider: nil).ingest(IngestRequest(input: .path(path)))
        #expect(legacy.status == .indexed)
        let spaced = try await pipeline(provider: "openai_like").ingest(IngestRequest(input: .path(path)))
        #expect(spaced.status == .indexed, "a new generation: the provider moved the vectors")

        let docs = await index.docs("test").values
        #expect(!docs.isEmpty)
        for doc in docs {
            #expect(doc["embedding_provider"] == "openai_like")
            #expect(doc["embedding_space_id"] == .string("openai_like:" + embedder.model))
        }
        #expect(await index.preparedSpaces == [EmbeddingSpace(model: embedder.model), EmbeddingSpace(model: embedder.model, provider: "openai_like")])
    }
}
