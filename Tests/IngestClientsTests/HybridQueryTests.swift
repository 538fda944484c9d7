import Foundation
import IngestKit
import Synchronization
import Testing

@testable import IngestOpenSearch

/// `ingest search`'s requests against the ones OpenRAG sends, as read in langflow-ai/openrag
/// `src/services/search_service.py` (the embedding-spaces version, after PR #2321) and
/// `src/utils/embedding_fields.py` at 17dde4f15911c288636bdecd8b5374197c5d835b. The expected
/// bodies are OpenRAG's Python dicts written out as JSON.
@Suite struct HybridQueryTests {
    static func json(_ text: String) throws -> JSONValue { try JSONValue.parse(Data(text.utf8), what: "expected") }
    /// As the server reads it: through JSON text (so `0.0` and `0`, `1.0` and `1` compare equal).
    static func wire(_ value: JSONValue?) -> JSONValue? { value.flatMap { try? JSONValue.parse($0.jsonData(), what: "wire") } }

    @Test func spaceDiscoveryIsOpenRAGsCompositeAggregations() throws {
        // build_embedding_space_aggregation(size=100, include_legacy=False), no filters.
        #expect(HybridQuery.spacesQuery(legacy: false, after: nil) == (try Self.json("""
            {"size": 0, "aggs": {"embedding_spaces": {"composite": {"size": 100,
              "sources": [{"space_id": {"terms": {"field": "embedding_space_id"}}}]}}}}
            """)))
        // The legacy pass: only chunks without embedding_space_id, paged with `after`.
        #expect(HybridQuery.spacesQuery(legacy: true, after: ["model": "m"]) == (try Self.json("""
            {"size": 0, "aggs": {"legacy_embedding_models": {"composite": {"size": 100, "after": {"model": "m"},
              "sources": [{"model": {"terms": {"field": "embedding_model"}}}]}}},
             "query": {"bool": {"must_not": [{"exists": {"field": "embedding_space_id"}}]}}}
            """)))
    }

    @Test func parsesSpacePages() throws {
        let qualified = try Self.json("""
            {"aggregations": {"embedding_spaces": {"after_key": {"space_id": "openai_like:all-MiniLM-L6-v2"},
              "buckets": [{"key": {"space_id": "openai_like:all-MiniLM-L6-v2"}, "doc_count": 7}, {"key": {"space_id": ""}, "doc_count": 1}]}}}
            """)
        let page = try HybridQuery.parseSpacesPage(qualified, legacy: false)
        #expect(page.spaces.map(\.space) == [EmbeddingSpace(model: "all-MiniLM-L6-v2", provider: "openai_like")])
        #expect(page.spaces.map(\.chunks) == [7] && page.buckets == 2)
        #expect(page.after == ["space_id": "openai_like:all-MiniLM-L6-v2"])
        let legacy = try Self.json(#"{"aggregations": {"legacy_embedding_models": {"buckets": [{"key": {"model": "text-embedding-3-small"}, "doc_count": 3}]}}}"#)
        #expect(try HybridQuery.parseSpacesPage(legacy, legacy: true).spaces.map(\.space) == [EmbeddingSpace(model: "text-embedding-3-small")])
        #expect(throws: IngestError.self) { try HybridQuery.parseSpacesPage(["hits": [:]], legacy: true) }
    }

    @Test func planQueriesEverySpaceOfOurModelOnly() {
        let ours = EmbeddingSpace(model: "all-MiniLM-L6-v2", provider: "openai_like")
        let found = [
            EmbeddingSpace(model: "all-MiniLM-L6-v2", provider: "openai_like"),
            EmbeddingSpace(model: "text-embedding-3-small", provider: "openai"),
            EmbeddingSpace(model: "all-MiniLM-L6-v2"),  // legacy chunks of the same model
        ]
        let plan = HybridQuery.plan(found: found, ours: ours)
        #expect(plan.fields == ["chunk_embedding_openai_like_all_minilm_l6_v2", "chunk_embedding_all_minilm_l6_v2"])
        #expect(plan.skipped == [EmbeddingSpace(model: "text-embedding-3-small", provider: "openai")])
        // An empty index: our own space (OpenRAG falls back to its configured model).
        #expect(HybridQuery.plan(found: [], ours: ours).fields == ["chunk_embedding_openai_like_all_minilm_l6_v2"])
    }

    /// The hybrid body, clause for clause as OpenRAG builds it for one space.
    @Test func hybridBodyIsOpenRAGs() throws {
        let body = HybridQuery.body(question: "backup retention", vectors: [("chunk_embedding_openai_like_all_minilm_l6_v2", [0.5, -0.25])], size: 10)
        let expected = try Self.json("""
            {"query": {"bool": {
               "should": [
                 {"dis_max": {"tie_breaker": 0.0, "boost": 0.7, "queries": [
                   {"knn": {"chunk_embedding_openai_like_all_minilm_l6_v2": {"vector": [0.5, -0.25], "k": 50, "num_candidates": 1000}}}]}},
                 {"multi_match": {"query": "backup retention", "fields": ["text^2", "filename^1.5"], "type": "best_fields",
                                  "operator": "or", "fuzziness": "AUTO:4,7", "boost": 0.3}},
                 {"match_phrase_prefix": {"text": {"query": "backup retention", "max_expansions": 50, "boost": 0.25}}}],
               "minimum_should_match": 1,
               "filter": []}},
             "size": 10}
            """)
        #expect(Self.wire(body["query"]) == Self.wire(expected["query"]))
        #expect(body["size"] == 10)
        let source = body["_source"]?.arrayValue?.compactMap(\.stringValue) ?? []
        // OpenRAG's `_source` list (the fields our chunks have), plus what `ingest search` prints.
        for field in ["filename", "mimetype", "page", "text", "owner", "owner_name", "owner_email", "file_size", "connector_type",
                      "embedding_model", "embedding_provider", "embedding_space_id", "embedding_dimensions", "headings"] {
            #expect(source.contains(field), "\(field)")
        }
        #expect(!source.contains { $0.hasPrefix("chunk_embedding") }, "vectors are not fetched")
    }

    /// One k-NN clause per space, in one dis_max (the best space wins, no blending).
    @Test func oneKNNClausePerSpace() {
        let body = HybridQuery.body(question: "q", vectors: [("a", [1]), ("b", [1])], size: 3)
        let queries = body["query"]?["bool"]?["should"]?.arrayValue?.first?["dis_max"]?["queries"]?.arrayValue
        #expect(queries?.compactMap { $0["knn"]?.objectValue?.keys.first } == ["a", "b"])
    }

    /// Without vectors: OpenRAG's keyword fallback (no dis_max, multi_match at full weight).
    @Test func keywordOnlyBodyIsOpenRAGsFallback() throws {
        let body = HybridQuery.body(question: "q", vectors: [], size: 5)
        let should = body["query"]?["bool"]?["should"]?.arrayValue ?? []
        #expect(should.count == 2)
        #expect(should.first?["multi_match"]?["boost"]?.doubleValue == 1.0)
        #expect(should.last?["match_phrase_prefix"]?["text"]?["boost"] == 0.25)
    }

    @Test func withoutNumCandidates() {
        let body = HybridQuery.body(question: "q", vectors: [("a", [1])], size: 3, numCandidates: false)
        let clause = body["query"]?["bool"]?["should"]?.arrayValue?.first?["dis_max"]?["queries"]?.arrayValue?.first?["knn"]?["a"]
        #expect(clause?["num_candidates"] == nil && clause?["k"] == 50)
    }

    @Test func recognisesServersWithoutKNN() {
        #expect(HybridQuery.refusesKNN("unsupported_operation_exception: [knn] query is not supported by osmem"))
        #expect(HybridQuery.refusesKNN("parsing_exception: unknown query [knn]"))
        #expect(!HybridQuery.refusesKNN("query_shard_exception: Field 'v' is not knn_vector type."))
        #expect(!HybridQuery.refusesKNN("parsing_exception: unknown query [foo]"))
        #expect(HybridQuery.refusesNumCandidates("x_content_parse_exception: [knn] unknown field [num_candidates]"))
    }
}

/// `IndexSearch` over the in-memory transport, answering like OpenSearch with k-NN and like osmem.
@Suite struct IndexSearchTests {
    /// Returns a fixed vector and counts its calls.
    final class FixedEmbedder: Embedder {
        let model: String
        let calls = Mutex(0)
        let fails: Bool
        init(model: String = "all-MiniLM-L6-v2", fails: Bool = false) { self.model = model; self.fails = fails }
        func embed(_ texts: [String]) async throws -> [[Float]] {
            calls.withLock { $0 += 1 }
            if fails { throw IngestError(.serviceUnavailable, "embeddings server down", transient: true) }
            return texts.map { _ in [0.5, -0.25] }
        }
        func probeDimension() async throws -> Int { 2 }
    }

    static let spaces: JSONValue = ["aggregations": ["embedding_spaces": ["buckets": [
        ["key": ["space_id": "openai_like:all-MiniLM-L6-v2"], "doc_count": 4],
        ["key": ["space_id": "openai:text-embedding-3-small"], "doc_count": 2],
    ]]]]
    static let noLegacy: JSONValue = ["aggregations": ["legacy_embedding_models": ["buckets": []]]]
    static let hits: JSONValue = ["hits": ["hits": [
        ["_id": "a_g_0", "_score": 2.5, "_source": ["filename": "backup_policy.adoc", "text": "Backups are kept 30 days.", "page": 1]],
    ]]]

    func makeSearch(_ http: FakeHTTPTransport, embedder: FixedEmbedder = FixedEmbedder()) throws -> IndexSearch {
        let index = try OpenSearchIndex(configuration: OpenSearchConfiguration(host: "http://os.test:9200", retry: OpenSearchIndexTests.fastRetry), transport: http)
        return IndexSearch(index: index, embedder: embedder, space: EmbeddingSpace(model: "all-MiniLM-L6-v2", provider: "openai_like"))
    }

    /// Routes `_search` by body: space discovery, then the hybrid query through `onSearch`.
    static func route(_ http: FakeHTTPTransport, onSearch: @escaping @Sendable (JSONValue) -> HTTPResponse) {
        http.on("POST", "/_search", handler: { request in
            let body = try JSONValue.parse(request.body ?? Data(), what: "body")
            if body["aggs"]?["embedding_spaces"] != nil { return HTTPResponse(status: 200, body: spaces.jsonData()) }
            if body["aggs"]?["legacy_embedding_models"] != nil { return HTTPResponse(status: 200, body: noLegacy.jsonData()) }
            return onSearch(body)
        })
    }

    /// A server with k-NN: one k-NN clause for our space, with the question's vector; the other
    /// model's space is left to keywords and said so.
    @Test func buildsTheKNNBodyForAServerWithKNN() async throws {
        let http = FakeHTTPTransport()
        let seen = Mutex<[JSONValue]>([])
        Self.route(http) { body in
            seen.withLock { $0.append(body) }
            return HTTPResponse(status: 200, body: Self.hits.jsonData())
        }
        let embedder = FixedEmbedder()
        let result = try await makeSearch(http, embedder: embedder).search("how long are backups kept", index: "docs", k: 5)
        #expect(result.hits.map(\.id) == ["a_g_0"])
        #expect(result.hits.first?.score == 2.5)
        #expect(result.vectorFields == ["chunk_embedding_openai_like_all_minilm_l6_v2"])
        #expect(embedder.calls.withLock { $0 } == 1)
        #expect(result.notes.count == 1 && result.notes[0].contains("openai:text-embedding-3-small"))
        let body = try #require(seen.withLock { $0 }.first)
        #expect(body == HybridQueryTests.wire(HybridQuery.body(question: "how long are backups kept", vectors: [("chunk_embedding_openai_like_all_minilm_l6_v2", [0.5, -0.25])], size: 5)))
        #expect(http.requests("POST", "/docs/_search").count == 3, "two discovery pages and one search")
    }

    /// osmem: "[knn] query is not supported" once, then the keyword-only query.
    @Test func fallsBackToKeywordsOnceOnAServerWithoutKNN() async throws {
        let http = FakeHTTPTransport()
        let seen = Mutex<[JSONValue]>([])
        Self.route(http) { body in
            seen.withLock { $0.append(body) }
            if body.jsonString().contains("\"knn\"") {
                return HTTPResponse(status: 400, body: Data(#"{"error":{"type":"unsupported_operation_exception","reason":"[knn] query is not supported by osmem"},"status":400}"#.utf8))
            }
            return HTTPResponse(status: 200, body: Self.hits.jsonData())
        }
        let result = try await makeSearch(http).search("backups", index: "docs", k: 3)
        #expect(result.hits.count == 1)
        #expect(result.vectorFields.isEmpty)
        #expect(result.notes.filter { $0.contains("does not run k-NN queries") }.count == 1)
        let bodies = seen.withLock { $0 }
        #expect(bodies.count == 2)
        #expect(bodies.last == HybridQueryTests.wire(HybridQuery.body(question: "backups", vectors: [], size: 3)))
    }

    @Test func embeddingFailureIsKeywordSearchWithANote() async throws {
        let http = FakeHTTPTransport()
        let seen = Mutex<[JSONValue]>([])
        Self.route(http) { body in
            seen.withLock { $0.append(body) }
            return HTTPResponse(status: 200, body: Self.hits.jsonData())
        }
        let result = try await makeSearch(http, embedder: FixedEmbedder(fails: true)).search("backups", index: "docs", k: 3)
        #expect(result.hits.count == 1 && result.vectorFields.isEmpty)
        #expect(result.notes.contains { $0.contains("embedding unavailable") && $0.contains("embeddings server down") })
        #expect(seen.withLock { $0 } == [HybridQueryTests.wire(HybridQuery.body(question: "backups", vectors: [], size: 3))])
    }

    @Test func retriesWithoutNumCandidates() async throws {
        let http = FakeHTTPTransport()
        let seen = Mutex<[JSONValue]>([])
        Self.route(http) { body in
            seen.withLock { $0.append(body) }
            if body.jsonString().contains("num_candidates") {
                return HTTPResponse(status: 400, body: Data(#"{"error":{"type":"x_content_parse_exception","reason":"[1:2] [knn] unknown field [num_candidates]"}}"#.utf8))
            }
            return HTTPResponse(status: 200, body: Self.hits.jsonData())
        }
        let result = try await makeSearch(http).search("q", index: "docs", k: 3)
        #expect(result.vectorFields == ["chunk_embedding_openai_like_all_minilm_l6_v2"])
        #expect(seen.withLock { $0 }.last == HybridQueryTests.wire(HybridQuery.body(question: "q", vectors: [("chunk_embedding_openai_like_all_minilm_l6_v2", [0.5, -0.25])], size: 3, numCandidates: false)))
    }

    @Test func missingIndexIsInvalidInputNamingIt() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_search", OpenSearchIndexTests.fixture("index-not-found.json", status: 404))
        let error = await #expect(throws: IngestError.self) { try await makeSearch(http).search("q", index: "nope", k: 3) }
        #expect(error?.reason == .invalidInput)
        #expect(error?.message.contains("'nope'") == true)
    }
}
