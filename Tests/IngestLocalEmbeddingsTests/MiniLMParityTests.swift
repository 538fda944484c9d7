import Foundation
import IngestKit
import IngestLocalEmbeddings
import Testing

/// Parity with sentence-transformers on the 50 reference texts (issue #6): same token ids,
/// cosine ≥ 0.999 — through the public ``LocalEmbedder``, batched as in production.
@Suite struct MiniLMParityTests {
    @Test func tokenIDsMatchTheReference() throws {
        let model = try LocalEmbeddingModel(folder: try ModelFolder.require(), threads: 1)
        for c in try Reference.load().cases {
            #expect(model.tokenIDs(c.text).map(Int.init) == c.input_ids, "text: \(c.text.prefix(60))")
        }
    }

    /// Batch sizes that split the 50 texts unevenly; two threads run a batch as two groups, and
    /// a single text with its products' columns split between them.
    @Test(arguments: [(batchSize: 1, threads: 1), (1, 2), (7, 2), (32, 1), (32, 2)])
    func embeddingsMatchTheReference(batchSize: Int, threads: Int) async throws {
        let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: try ModelFolder.require(), threads: threads, batchSize: batchSize))
        let cases = try Reference.load().cases
        let vectors = try await embedder.embed(cases.map(\.text))
        #expect(vectors.count == cases.count)
        for (c, v) in zip(cases, vectors) {
            #expect(v.count == 384)
            let similarity = cosine(v, c.embedding)
            #expect(similarity >= 0.999, "cosine \(similarity) for text: \(c.text.prefix(60))")
            let norm = v.reduce(0) { $0 + Double($1) * Double($1) }.squareRoot()
            #expect(abs(norm - 1) < 1e-4)
        }
    }

    @Test func loadsLazilyOnceAndServesConcurrentCallers() async throws {
        let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: try ModelFolder.require(), threads: 1, batchSize: 4))
        #expect(!embedder.isLoaded)
        let texts = ["hello world", "The quick brown fox jumps over the lazy dog.", "OpenSearch k-NN index"]
        let results = try await withThrowingTaskGroup(of: [[Float]].self) { group in
            for _ in 0..<3 { group.addTask { try await embedder.embed(texts) } }
            return try await group.reduce(into: []) { $0.append($1) }
        }
        #expect(embedder.isLoaded)
        for result in results.dropFirst() {
            for (a, b) in zip(result, results[0]) { #expect(cosine(a, b) > 0.99999) }
        }
        #expect(try await embedder.probeDimension() == 384)
        #expect(embedder.model == "all-MiniLM-L6-v2")
    }

    @Test func missingFolderIsAConfigurationError() async throws {
        let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: "/nonexistent/model", threads: 1))
        let error = await #expect(throws: IngestError.self) { try await embedder.embed(["x"]) }
        #expect(error?.reason == .configuration)
        #expect(error?.message.contains("/nonexistent/model") == true)
        #expect(!embedder.isLoaded)
    }

    @Test func cancelledBeforeTheFirstBatchThrowsCancelled() async throws {
        let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: try ModelFolder.require(), threads: 1, batchSize: 1))
        _ = try await embedder.probeDimension()
        let error = await #expect(throws: IngestError.self) {
            try await withThrowingTaskGroup(of: [[Float]].self) { group in
                group.addTask { try await embedder.embed(Array(repeating: "a longer text to embed", count: 50)) }
                group.cancelAll()
                return try await group.next() ?? []
            }
        }
        #expect(error?.reason == .cancelled)
    }
}
