import Foundation
import IngestKit
import Testing

@testable import IngestOpenSearch

/// The space layout against OpenRAG as read: langflow-ai/openrag `src/utils/embedding_fields.py`
/// at 17dde4f15911c288636bdecd8b5374197c5d835b (`normalize_model_name`, `get_embedding_field_name`,
/// `get_embedding_space_id`, `split_embedding_space_id`) and `src/services/document_index_writer.py`
/// at 160ab4947a9f62a896bfa9f8e0801d29857ad200 (`_build_chunk_document`,
/// `ensure_embedding_field_exists`' mapping).
@Suite struct EmbeddingSpaceTests {
    /// OpenRAG's `normalize_model_name`, step by step as written in Python: lower(), replace
    /// `-` `:` `/` `.` with `_`, every other character that is not `isalnum()` (or `_`) with `_`,
    /// collapse `__`, strip `_`. Python iterates code points; `isalnum` is Unicode L*/N*.
    static func openRAGNormalize(_ name: String) -> String {
        var s = name.lowercased()
        for separator in ["-", ":", "/", "."] { s = s.replacingOccurrences(of: separator, with: "_") }
        var out = String.UnicodeScalarView()
        for scalar in s.unicodeScalars {
            let alnum: Bool
            switch scalar.properties.generalCategory {
            case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter, .decimalNumber, .letterNumber, .otherNumber: alnum = true
            default: alnum = false
            }
            out.append(alnum || scalar == "_" ? scalar : "_")
        }
        s = String(out)
        while s.contains("__") { s = s.replacingOccurrences(of: "__", with: "_") }
        while s.hasPrefix("_") { s.removeFirst() }
        while s.hasSuffix("_") { s.removeLast() }
        return s
    }

    @Test(arguments: [
        // (provider, model, space id, vector field)
        ("openai_like", "all-MiniLM-L6-v2", "openai_like:all-MiniLM-L6-v2", "chunk_embedding_openai_like_all_minilm_l6_v2"),
        ("openai", "text-embedding-3-small", "openai:text-embedding-3-small", "chunk_embedding_openai_text_embedding_3_small"),
        ("hosted_vllm", "sentence-transformers/all-MiniLM-L6-v2", "hosted_vllm:sentence-transformers/all-MiniLM-L6-v2", "chunk_embedding_hosted_vllm_sentence_transformers_all_minilm_l6_v2"),
        ("ollama", "nomic-embed-text:latest", "ollama:nomic-embed-text:latest", "chunk_embedding_ollama_nomic_embed_text_latest"),
        (" OpenAI ", " text-embedding-3-large ", "openai:text-embedding-3-large", "chunk_embedding_openai_text_embedding_3_large"),
    ])
    func spaceIDAndField(provider: String, model: String, spaceID: String, field: String) {
        let space = EmbeddingSpace(model: model, provider: provider)
        #expect(space.spaceID == spaceID)
        #expect(space.fieldIdentity == spaceID)
        #expect(OpenSearchIndex.vectorFieldName(for: space) == field)
        #expect("chunk_embedding_" + Self.openRAGNormalize(spaceID) == field)
    }

    @Test func legacySpaceIsTheModel() {
        let space = EmbeddingSpace(model: "all-MiniLM-L6-v2")
        #expect(space.spaceID == nil && space.isLegacy)
        #expect(OpenSearchIndex.vectorFieldName(for: space) == "chunk_embedding_all_minilm_l6_v2")
        #expect(EmbeddingSpace(model: "m", provider: "  ").isLegacy, "a blank provider is no provider (OpenRAG raises; we keep the legacy layout)")
    }

    /// Our one-pass normalisation equals OpenRAG's multi-step one, on names that exercise each step.
    @Test(arguments: [
        "all-MiniLM-L6-v2", "openai_like:all-MiniLM-L6-v2", "a__b", "_lead_and_trail_", "--Odd..Model__Name--",
        "BAAI/bge-m3 @ v1.5", "ibm/slate-125m-english-rtrvr", "Ünïcödé-Módel", "e\u{301}mbed", "x²-ⅻ-½", "日本語:モデル",
        "tab\there", "a:_:b", "UPPER:Case.Name", "",
    ])
    func normalisationMatchesOpenRAG(name: String) {
        #expect(OpenSearchIndex.vectorFieldName(forModel: name) == "chunk_embedding_" + Self.openRAGNormalize(name), "\(name)")
    }

    @Test(arguments: [
        ("openai_like:all-MiniLM-L6-v2", "openai_like", "all-MiniLM-L6-v2"),
        ("ollama:nomic-embed-text:latest", "ollama", "nomic-embed-text:latest"),
        ("OpenAI:text-embedding-3-small", "openai", "text-embedding-3-small"),
        ("text-embedding-3-small", nil, "text-embedding-3-small"),
        (":model", nil, ":model"),
        ("provider:", nil, "provider:"),
    ] as [(String, String?, String)])
    func splitLikeOpenRAG(id: String, provider: String?, model: String) {
        let space = EmbeddingSpace(spaceID: id)
        #expect(space.provider == provider)
        #expect(space.model == model)
    }

    // MARK: - What a chunk carries

    static func record(provider: String?) -> ChunkRecord {
        ChunkRecord(
            id: "h_g1_0", text: "Hello", chunkIndex: 0, chunkCount: 1, headings: ["Intro"], pages: [1],
            source: "/d/a.pdf", documentID: "abc", generation: "g1", filename: "a.pdf", mimetype: "application/pdf",
            fileSize: 12, indexedTime: "2026-12-06T00:00:00Z", embeddingModel: "all-MiniLM-L6-v2", embeddingProvider: provider,
            vector: [0.5, -1]
        )
    }

    /// With a provider the chunk carries OpenRAG's two fields and the vector in the space's field.
    @Test func spaceLayoutBulkBytes() throws {
        let record = Self.record(provider: "openai_like")
        let entry = try BulkEntry(record: record, vectorField: OpenSearchIndex.vectorFieldName(for: record.space), position: 0)
        let expected = #"{"index":{"_id":"h_g1_0"}}"# + "\n"
            + #"{"chunk_count":1,"chunk_embedding_openai_like_all_minilm_l6_v2":[0.5,-1.0],"chunk_index":0,"document_id":"abc","embedding_dimensions":2,"embedding_model":"all-MiniLM-L6-v2","embedding_provider":"openai_like","embedding_space_id":"openai_like:all-MiniLM-L6-v2","file_size":12,"filename":"a.pdf","generation":"g1","headings":["Intro"],"indexed_time":"2026-12-06T00:00:00Z","mimetype":"application/pdf","page":1,"pages":[1],"source":"/d/a.pdf","text":"Hello"}"# + "\n"
        #expect(String(decoding: entry.lines, as: UTF8.self) == expected)
    }

    /// Without a provider nothing changes: no provider fields, the model's field.
    @Test func legacyLayoutBulkBytesAreUnchanged() throws {
        let record = Self.record(provider: nil)
        let entry = try BulkEntry(record: record, vectorField: OpenSearchIndex.vectorFieldName(for: record.space), position: 0)
        let expected = #"{"index":{"_id":"h_g1_0"}}"# + "\n"
            + #"{"chunk_count":1,"chunk_embedding_all_minilm_l6_v2":[0.5,-1.0],"chunk_index":0,"document_id":"abc","embedding_dimensions":2,"embedding_model":"all-MiniLM-L6-v2","file_size":12,"filename":"a.pdf","generation":"g1","headings":["Intro"],"indexed_time":"2026-12-06T00:00:00Z","mimetype":"application/pdf","page":1,"pages":[1],"source":"/d/a.pdf","text":"Hello"}"# + "\n"
        #expect(String(decoding: entry.lines, as: UTF8.self) == expected)
    }

    // MARK: - Mapping

    @Test func spaceIndexBodyMapsTheProviderFieldsAsKeywords() {
        let space = EmbeddingSpace(model: "all-MiniLM-L6-v2", provider: "openai_like")
        let properties = OpenSearchIndex.indexBody(space: space, dimension: 384)["mappings"]?["properties"]
        #expect(properties?["chunk_embedding_openai_like_all_minilm_l6_v2"] == OpenSearchIndex.vectorFieldMapping(dimension: 384))
        #expect(properties?["chunk_embedding_all_minilm_l6_v2"] == nil)
        // As OpenRAG's ensure_embedding_field_exists maps them.
        #expect(properties?["embedding_provider"] == ["type": "keyword"])
        #expect(properties?["embedding_space_id"] == ["type": "keyword"])
        #expect(properties?["embedding_model"] == ["type": "keyword"])
        // The legacy body is today's.
        let legacy = EmbeddingSpace(model: "text-embedding-3-small")
        #expect(OpenSearchIndex.indexBody(space: legacy, dimension: 1536) == OpenSearchIndex.indexBody(vectorField: "chunk_embedding_text_embedding_3_small", dimension: 1536))
        #expect(OpenSearchIndex.indexBody(space: legacy, dimension: 1536)["mappings"]?["properties"]?["embedding_space_id"] == nil)
    }

    /// OpenRAG aggregates on `embedding_space_id`: an index that maps it as text would hide our
    /// space, so a write in the space layout stops with a message naming the field.
    @Test func textSpaceIDBlocksTheSpaceLayoutOnly() {
        let properties: [String: JSONValue] = ["embedding_space_id": ["type": "text", "fields": ["keyword": ["type": "keyword"]]]]
        let space = EmbeddingSpace(model: "m", provider: "openai")
        let check = MappingCheck(properties: properties, vectorField: "v", dimension: 3, metadata: OpenSearchIndex.fieldProperties(for: space))
        #expect(check.conflictingFields == ["embedding_space_id": "text"])
        let error = check.blockingError(index: "docs", vectorField: "v", dimension: 3)
        #expect(error?.reason == .configuration)
        #expect(error?.message.contains("OpenRAG") == true)
        #expect(MappingCheck(properties: properties, vectorField: "v", dimension: 3).conflictingFields.isEmpty)
    }
}

/// `prepare` for the space layout over the in-memory transport.
@Suite struct EmbeddingSpacePrepareTests {
    func makeIndex(_ http: FakeHTTPTransport) throws -> OpenSearchIndex {
        try OpenSearchIndex(configuration: OpenSearchConfiguration(host: "http://os.test:9200", retry: OpenSearchIndexTests.fastRetry), transport: http)
    }

    /// An index another tool created (OpenRAG's own fields and a vector field of its space):
    /// ours is added with `PUT _mapping` before the first write, as a knn_vector, with the
    /// provider fields; nothing existing is redefined.
    @Test func existingForeignIndexGetsTheSpaceFieldBeforeTheFirstWrite() async throws {
        let foreign: JSONValue = ["documents": ["mappings": ["properties": [
            "text": ["type": "text"], "filename": ["type": "keyword"], "embedding_model": ["type": "keyword"],
            "embedding_provider": ["type": "keyword"], "embedding_space_id": ["type": "keyword"],
            "chunk_embedding_openai_text_embedding_3_small": OpenSearchIndex.vectorFieldMapping(dimension: 1536),
        ]]]]
        let http = FakeHTTPTransport()
        http.on("GET", "/documents/_mapping", .response(HTTPResponse(status: 200, body: foreign.jsonData())))
        http.on("PUT", "/documents/_mapping", .json(#"{"acknowledged":true}"#))
        http.on("POST", "/_bulk", handler: { OpenSearchIndexTests.acceptAll($0) })
        let index = try makeIndex(http)
        let space = EmbeddingSpace(model: "all-MiniLM-L6-v2", provider: "openai_like")
        try await index.prepare(index: "documents", space: space, dimension: 384)
        var record = EmbeddingSpaceTests.record(provider: "openai_like")
        record.vector = Array(repeating: 0.1, count: 384)
        try await index.write(index: "documents", records: [record], refresh: true)

        let methods = http.recorded.map { "\($0.request.method) \($0.request.url.split(separator: "?")[0])" }
        #expect(methods == ["GET http://os.test:9200/documents/_mapping", "PUT http://os.test:9200/documents/_mapping", "POST http://os.test:9200/documents/_bulk"])
        let put = try #require(http.requests("PUT", "/documents/_mapping").first)
        let properties = try JSONValue.parse(put.body ?? Data(), what: "body")["properties"]
        #expect(properties?["chunk_embedding_openai_like_all_minilm_l6_v2"]?["type"] == "knn_vector")
        #expect(properties?["chunk_embedding_openai_like_all_minilm_l6_v2"]?["dimension"] == 384)
        #expect(properties?["embedding_space_id"] == nil, "already mapped: not redefined")
        #expect(properties?["chunk_embedding_openai_text_embedding_3_small"] == nil)
        #expect(properties?["source"] == ["type": "keyword"])
    }

    @Test func missingIndexIsCreatedWithTheSpaceMapping() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "/docs/_mapping", OpenSearchIndexTests.fixture("index-not-found.json", status: 404))
        http.on("PUT", "/docs", .json(#"{"acknowledged":true}"#))
        let space = EmbeddingSpace(model: "all-MiniLM-L6-v2", provider: "openai_like")
        try await makeIndex(http).prepare(index: "docs", space: space, dimension: 384)
        let put = try #require(http.requests("PUT", "/docs").first)
        #expect(try JSONValue.parse(put.body ?? Data(), what: "body") == OpenSearchIndex.indexBody(space: space, dimension: 384))
    }
}
