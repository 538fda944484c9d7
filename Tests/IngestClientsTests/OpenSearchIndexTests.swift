import Foundation
import IngestKit
import Synchronization
import Testing

@testable import IngestOpenSearch

/// `OpenSearchIndex` against the in-memory transport: the requests it sends and how it reads
/// the answers (captured from osmem 0.1.6 where a fixture exists).
@Suite struct OpenSearchIndexTests {
    /// Fast retries: no real waiting in unit tests.
    static let fastRetry = RetryPolicy(maxAttempts: 4, baseDelay: .zero, maxDelay: .zero, maxElapsed: .seconds(60))

    func makeIndex(_ http: FakeHTTPTransport, configure: (inout OpenSearchConfiguration) -> Void = { _ in }) throws -> OpenSearchIndex {
        var config = OpenSearchConfiguration(host: "http://os.test:9200", retry: Self.fastRetry)
        configure(&config)
        return try OpenSearchIndex(configuration: config, transport: http)
    }

    static func fixture(_ name: String, status: Int = 200) -> FakeHTTPTransport.Reply {
        do {
            return .response(HTTPResponse(status: status, body: try Fixtures.data("opensearch/\(name)")))
        } catch {
            return .error(IngestError(.internalError, "fixture \(name): \(error)"))
        }
    }

    static func document(_ i: Int, text: String = "chunk", dims: Int = 3) -> ChunkRecord {
        record(id: "doc_\(i)", index: i, text: text, dims: dims)
    }

    static func record(id: String, index i: Int = 0, text: String = "chunk", dims: Int = 3) -> ChunkRecord {
        ChunkRecord(
            id: id, text: text, chunkIndex: i, chunkCount: 1, headings: [], pages: [], source: "/d/a.pdf",
            documentID: "d", generation: "g", filename: "a.pdf", mimetype: nil, fileSize: 1, indexedTime: "t",
            embeddingModel: "m", vector: (0..<dims).map { Float($0) / 10 }
        )
    }

    /// The `_id`s of a bulk body, in order.
    static func ids(_ request: HTTPRequest) -> [String] {
        let text = String(decoding: request.body ?? Data(), as: UTF8.self)
        return text.split(separator: "\n").compactMap { line in
            (try? JSONValue.parse(Data(line.utf8), what: "line"))?["index"]?["_id"]?.stringValue
        }
    }

    static func bulkAnswer(_ items: [(String, Int)]) -> HTTPResponse {
        let errors = items.contains { $0.1 >= 300 }
        let body: JSONValue = ["took": 1, "errors": .bool(errors), "items": .array(items.map { id, status in
            var item: [String: JSONValue] = ["_id": .string(id), "status": .int(status)]
            if status == 429 { item["error"] = ["type": "es_rejected_execution_exception", "reason": "rejected execution"] }
            if status == 400 { item["error"] = ["type": "mapper_parsing_exception", "reason": "failed to parse field [page]", "caused_by": ["type": "number_format_exception", "reason": "For input string: \"x\""]] }
            return ["index": .object(item)]
        })]
        return HTTPResponse(status: 200, body: body.jsonData())
    }

    /// Answers every bulk with success for each id it carries.
    static func acceptAll(_ request: HTTPRequest) -> HTTPResponse {
        bulkAnswer(ids(request).map { ($0, 201) })
    }

    // MARK: - prepare

    @Test func createsMissingIndexWithSchema() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "/docs/_mapping", Self.fixture("index-not-found.json", status: 404))
        http.on("PUT", "/docs", .json(#"{"acknowledged":true,"shards_acknowledged":true,"index":"docs"}"#))
        let index = try makeIndex(http) { $0.username = "admin"; $0.password = "pw" }
        try await index.prepare(index: "docs", vectorField: "chunk_embedding_m", dimension: 384)

        let put = try #require(http.requests("PUT", "/docs").first)
        #expect(put.url == "http://os.test:9200/docs")
        #expect(put.header("Content-Type") == "application/json")
        #expect(put.header("Authorization") == "Basic " + Data("admin:pw".utf8).base64EncodedString())
        let body = try JSONValue.parse(put.body ?? Data(), what: "body")
        #expect(body == OpenSearchIndex.indexBody(vectorField: "chunk_embedding_m", dimension: 384))
    }

    @Test func raceOnCreateIsSuccessAfterReverifying() async throws {
        let http = FakeHTTPTransport()
        let ours = OpenSearchIndex.indexBody(vectorField: "v", dimension: 3)
        let mapping: JSONValue = ["docs": ["mappings": ours["mappings"] ?? nil]]
        http.on("GET", "/docs/_mapping", Self.fixture("index-not-found.json", status: 404), .response(HTTPResponse(status: 200, body: mapping.jsonData())))
        http.on("PUT", "/docs", Self.fixture("create-index-exists.json", status: 400))
        try await makeIndex(http).prepare(index: "docs", vectorField: "v", dimension: 3)
        #expect(http.requests("GET", "/_mapping").count == 2)
        #expect(http.requests("PUT", "/_mapping").isEmpty)
    }

    @Test func existingIndexGetsMissingVectorField() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "/t1/_mapping", Self.fixture("mapping.json"))
        http.on("PUT", "/t1/_mapping", .json(#"{"acknowledged":true}"#))
        try await makeIndex(http).prepare(index: "t1", vectorField: "chunk_embedding_m", dimension: 8)
        let put = try #require(http.requests("PUT", "/t1/_mapping").first)
        let body = try JSONValue.parse(put.body ?? Data(), what: "body")
        #expect(body["properties"]?["chunk_embedding_m"] == OpenSearchIndex.vectorFieldMapping(dimension: 8))
        #expect(body["properties"]?["v"] == nil)
    }

    @Test func dimensionMismatchNamesEverything() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "/t1/_mapping", Self.fixture("mapping.json"))
        let error = await #expect(throws: IngestError.self) {
            try await makeIndex(http).prepare(index: "t1", vectorField: "v", dimension: 384)
        }
        #expect(error?.reason == .dimensionMismatch)
        #expect(error?.message.contains("'t1'") == true && error?.message.contains("'v'") == true)
        #expect(error?.message.contains("dimension 3") == true && error?.message.contains("384") == true)
        #expect(http.requests("PUT", "").isEmpty)
    }

    // MARK: - write

    @Test func bulkRequestShape() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk", handler: { Self.acceptAll($0) })
        try await makeIndex(http).write(index: "docs", records: (0..<3).map { Self.document($0) }, refresh: true)
        let request = try #require(http.requests.first)
        #expect(request.url == "http://os.test:9200/docs/_bulk?filter_path=took,errors,items.*.error,items.*._id,items.*.status&refresh=wait_for")
        #expect(request.header("Content-Type") == "application/x-ndjson")
        #expect(Self.ids(request) == ["doc_0", "doc_1", "doc_2"])
        #expect(request.body?.last == UInt8(ascii: "\n"))
        #expect(http.recorded.first?.timeout == .seconds(60))
    }

    @Test func refreshOnlyOnTheLastRequest() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk", handler: { Self.acceptAll($0) })
        let index = try makeIndex(http) { $0.bulkMaxItems = 2 }
        try await index.write(index: "docs", records: (0..<5).map { Self.document($0) }, refresh: true)
        let requests = http.requests("POST", "/_bulk")
        #expect(requests.map(Self.ids) == [["doc_0", "doc_1"], ["doc_2", "doc_3"], ["doc_4"]])
        #expect(requests.map { $0.url.contains("refresh=wait_for") } == [false, false, true])

        let noRefresh = FakeHTTPTransport()
        noRefresh.on("POST", "/_bulk", handler: { Self.acceptAll($0) })
        try await makeIndex(noRefresh) { $0.bulkMaxItems = 2 }.write(index: "docs", records: (0..<3).map { Self.document($0) }, refresh: false)
        #expect(noRefresh.requests.allSatisfy { !$0.url.contains("refresh") })
    }

    @Test func batchesSizedByBytes() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk", handler: { Self.acceptAll($0) })
        let documents = (0..<10).map { Self.document($0, text: String(repeating: "x", count: 900)) }
        let oneEntry = try BulkEntry(record: documents[0], vectorField: "chunk_embedding_m", position: 0).lines.count
        let index = try makeIndex(http) { $0.bulkMaxBytes = oneEntry * 3 + 10 }
        try await index.write(index: "docs", records: documents, refresh: false)
        let requests = http.requests("POST", "/_bulk")
        #expect(requests.map { Self.ids($0).count } == [3, 3, 3, 1])
        #expect(requests.allSatisfy { ($0.body?.count ?? 0) <= oneEntry * 3 + 10 })
    }

    @Test func itemsRefusedWith429AreResentAlone() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk",
            .response(Self.bulkAnswer([("doc_0", 201), ("doc_1", 429), ("doc_2", 201), ("doc_3", 429)])),
            .response(Self.bulkAnswer([("doc_1", 201), ("doc_3", 201)])))
        try await makeIndex(http).write(index: "docs", records: (0..<4).map { Self.document($0) }, refresh: true)
        let requests = http.requests("POST", "/_bulk")
        #expect(requests.map(Self.ids) == [["doc_0", "doc_1", "doc_2", "doc_3"], ["doc_1", "doc_3"]])
        #expect(requests.allSatisfy { $0.url.contains("refresh=wait_for") }, "the re-sent last batch is still the last request")
    }

    @Test func itemRetriesAreBounded() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk", handler: { request in Self.bulkAnswer(Self.ids(request).map { ($0, 429) }) })
        let error = await #expect(throws: IngestError.self) {
            try await makeIndex(http).write(index: "docs", records: [Self.document(0)], refresh: false)
        }
        #expect(error?.reason == .serviceUnavailable)
        #expect(error?.isTransient == true)
        #expect(http.requests.count == Self.fastRetry.maxAttempts)
    }

    @Test func permanentItemErrorIsIndexRejectedWithTheID() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk", .response(Self.bulkAnswer([("doc_0", 201), ("doc_1", 400), ("doc_2", 429)])))
        let index = try makeIndex(http) { $0.bulkMaxItems = 3 }
        let error = await #expect(throws: IngestError.self) {
            try await index.write(index: "docs", records: (0..<6).map { Self.document($0) }, refresh: false)
        }
        #expect(error?.reason == .indexRejected)
        #expect(error?.itemIndex == 1)
        #expect(error?.message.contains("'doc_1'") == true)
        #expect(error?.message.contains("mapper_parsing_exception") == true)
        #expect(error?.message.contains("number_format_exception") == true)
        #expect(http.requests.count == 1, "stops at the first permanent error")
    }

    @Test func observedItemErrorsFromOsmem() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk", Self.fixture("bulk-item-errors.json"))
        let documents = [Self.document(0), Self.record(id: "bad_dim"), Self.record(id: "bad_num")]
        let error = await #expect(throws: IngestError.self) {
            try await makeIndex(http).write(index: "t1", records: documents, refresh: false)
        }
        #expect(error?.reason == .indexRejected)
        #expect(error?.message.contains("'bad_dim'") == true)
        #expect(error?.message.contains("Vector dimension mismatch") == true)
        #expect(error?.message.contains("1 more chunk") == true)
    }

    @Test func payloadTooLargeSplitsInHalves() async throws {
        let http = FakeHTTPTransport()
        // Anything with more than 2 documents is too large.
        http.on("POST", "/_bulk", handler: { request in
            let ids = Self.ids(request)
            if ids.count > 2 { return HTTPResponse(status: 413, body: Data(#"{"error":"request body is larger than 104857600 bytes","status":413}"#.utf8)) }
            return Self.bulkAnswer(ids.map { ($0, 201) })
        })
        try await makeIndex(http).write(index: "docs", records: (0..<5).map { Self.document($0) }, refresh: true)
        let requests = http.requests("POST", "/_bulk")
        #expect(requests.map(Self.ids) == [["doc_0", "doc_1", "doc_2", "doc_3", "doc_4"], ["doc_0", "doc_1"], ["doc_2", "doc_3", "doc_4"], ["doc_2"], ["doc_3", "doc_4"]])
        #expect(requests.map { $0.url.contains("refresh=wait_for") } == [true, false, true, false, true])
    }

    @Test func singleDocumentTooLargeIsRejected() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk", .status(413))
        let error = await #expect(throws: IngestError.self) {
            try await makeIndex(http).write(index: "docs", records: [Self.document(0), Self.document(1)], refresh: false)
        }
        #expect(error?.reason == .indexRejected)
        #expect(error?.message.contains("'doc_0'") == true && error?.message.contains("413") == true)
        #expect(error?.itemIndex == 0)
    }

    @Test func wholeRequest429IsRetriedHonouringRetryAfter() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk",
            .json(#"{"error":{"type":"es_rejected_execution_exception","reason":"busy"},"status":429}"#, status: 429, headers: [(name: "Retry-After", value: "0")]),
            .status(503),
            .connectionRefused("http://os.test:9200/docs/_bulk"),
            .response(Self.bulkAnswer([("doc_0", 201)])))
        try await makeIndex(http).write(index: "docs", records: [Self.document(0)], refresh: false)
        #expect(http.requests.count == 4)
        #expect(http.requests.allSatisfy { Self.ids($0) == ["doc_0"] })
    }

    @Test func unauthorizedIsAuthFailedWithoutSecrets() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk", .json(#"{"error":{"type":"security_exception","reason":"Unauthorized"},"status":401}"#, status: 401))
        let index = try makeIndex(http) { $0.username = "admin"; $0.password = "hunter2-secret" }
        let error = await #expect(throws: IngestError.self) {
            try await index.write(index: "docs", records: [Self.document(0)], refresh: false)
        }
        #expect(error?.reason == .authFailed)
        #expect(error?.message.contains("OPENSEARCH_USERNAME") == true)
        #expect(error?.message.contains("hunter2") == false)
        #expect(http.requests.count == 1, "not retried")
    }

    @Test func malformedBulkIsAnInternalErrorNotRetried() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_bulk", .json(#"{"error":{"type":"illegal_argument_exception","reason":"The bulk request must be terminated by a newline [\n]"},"status":400}"#, status: 400))
        let error = await #expect(throws: IngestError.self) {
            try await makeIndex(http).write(index: "docs", records: [Self.document(0)], refresh: false)
        }
        #expect(error?.reason == .internalError)
        #expect(http.requests.count == 1)
    }

    @Test func emptyWriteSendsNothing() async throws {
        let http = FakeHTTPTransport()
        try await makeIndex(http).write(index: "docs", records: [], refresh: true)
        #expect(http.requests.isEmpty)
    }

    // MARK: - queries

    @Test func storedSourceQueryAndAnswer() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/t1/_search", Self.fixture("stored-source-search.json"))
        let stored = try await makeIndex(http).storedSource(index: "t1", source: "/d/a.pdf")
        #expect(stored.generations.map(\.generation) == ["g1", "g2"])
        #expect(stored.generations.map(\.isComplete) == [true, false])
        let body = try JSONValue.parse(http.requests.first?.body ?? Data(), what: "body")
        #expect(body["query"] == ["term": ["source": "/d/a.pdf"]])
        #expect(body["size"] == 0)
    }

    @Test func storedSourceOfMissingIndexIsEmpty() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_search", Self.fixture("index-not-found.json", status: 404))
        #expect(try await makeIndex(http).storedSource(index: "nope", source: "/x") == .empty)
    }

    @Test func deleteByQuery() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_delete_by_query", Self.fixture("delete-by-query.json"))
        let deleted = try await makeIndex(http).deleteChunks(index: "t1", source: "/d/a.pdf", keepGeneration: "g2")
        #expect(deleted == 2)
        let request = try #require(http.requests.first)
        #expect(request.url == "http://os.test:9200/t1/_delete_by_query?conflicts=proceed&refresh=true")
        #expect(try JSONValue.parse(request.body ?? Data(), what: "body") == OpenSearchIndex.deleteQuery(source: "/d/a.pdf", keepGeneration: "g2"))
    }

    @Test func deleteByQueryRetriesFailures() async throws {
        let http = FakeHTTPTransport()
        http.on("POST", "/_delete_by_query",
            .json(#"{"deleted":1,"failures":[{"cause":{"type":"es_rejected_execution_exception","reason":"busy"}}],"timed_out":false}"#),
            .json(#"{"deleted":2,"failures":[],"timed_out":false}"#))
        #expect(try await makeIndex(http).deleteChunks(index: "t1", source: "/d/a.pdf", keepGeneration: nil) == 3)
        #expect(http.requests.count == 2)
        let gone = FakeHTTPTransport()
        gone.on("POST", "/gone/_delete_by_query", Self.fixture("index-not-found.json", status: 404))
        #expect(try await makeIndex(gone).deleteChunks(index: "gone", source: "/d/a.pdf", keepGeneration: nil) == 0)
    }

    @Test func sourcesPagesThroughComposite() async throws {
        let http = FakeHTTPTransport()
        let page1: JSONValue = ["aggregations": ["sources": ["after_key": ["source": "/d/b"], "buckets": [["key": ["source": "/d/a"], "doc_count": 3], ["key": ["source": "/d/b"], "doc_count": 1]]]]]
        let page2: JSONValue = ["aggregations": ["sources": ["buckets": [["key": ["source": "/d/c"], "doc_count": 1]]]]]
        http.on("POST", "/_search", .response(HTTPResponse(status: 200, body: page1.jsonData())), .response(HTTPResponse(status: 200, body: page2.jsonData())))
        let index = try makeIndex(http) { $0.sourcesPageSize = 2 }
        #expect(try await index.sources(index: "t1", prefix: "/d/") == ["/d/a", "/d/b", "/d/c"])
        let bodies = try http.requests.map { try JSONValue.parse($0.body ?? Data(), what: "body") }
        #expect(bodies.count == 2)
        #expect(bodies[0]["query"] == ["prefix": ["source": "/d/"]])
        #expect(bodies[0]["aggs"]?["sources"]?["composite"]?["after"] == nil)
        #expect(bodies[1]["aggs"]?["sources"]?["composite"]?["after"] == ["source": "/d/b"])
    }

    @Test func sourcesAreBounded() async throws {
        let http = FakeHTTPTransport()
        let page: JSONValue = ["aggregations": ["sources": ["after_key": ["source": "/d/a"], "buckets": [["key": ["source": "/d/a"], "doc_count": 3]]]]]
        http.on("POST", "/_search", .response(HTTPResponse(status: 200, body: page.jsonData())))
        let index = try makeIndex(http) { $0.sourcesPageSize = 1; $0.maxSourcePages = 3 }
        await #expect(throws: IngestError.self) { try await index.sources(index: "t1", prefix: "/d/") }
        #expect(http.requests.count == 3)
    }

    @Test func sourcesParsesObservedPage() throws {
        let body = try JSONValue.parse(Fixtures.data("opensearch/sources-composite-page1.json"), what: "fixture")
        let page = try OpenSearchIndex.parseSourcesPage(body)
        #expect(page.sources == ["/d/a.pdf"])
        #expect(page.afterKey == ["source": "/d/a.pdf"])
    }

    // MARK: - health

    @Test func healthChecksRootThenCluster() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "/_cluster/health", .json(#"{"status":"yellow"}"#))
        http.on("GET", "9200", Self.fixture("root.json"))
        try await makeIndex(http).checkHealth()
        #expect(http.requests.map(\.url) == ["http://os.test:9200", "http://os.test:9200/_cluster/health"])
    }

    @Test func healthUnauthorized() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "os.test", .json(#"{"error":{"type":"security_exception","reason":"Unauthorized"},"status":401}"#, status: 401))
        let error = await #expect(throws: IngestError.self) { try await makeIndex(http).checkHealth() }
        #expect(error?.reason == .authFailed)
        #expect(error?.message.contains("OPENSEARCH_USERNAME") == true)
    }

    @Test func healthConnectionRefusedNamesHostVariable() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "os.test", .connectionRefused("http://os.test:9200"))
        let error = await #expect(throws: IngestError.self) { try await makeIndex(http).checkHealth() }
        #expect(error?.reason == .serviceUnavailable)
        #expect(error?.message.contains("http://os.test:9200") == true)
        #expect(error?.message.contains("OPENSEARCH_HOST") == true)
        #expect(http.requests.count == 1, "health answers at once")
    }

    @Test func healthRed() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "/_cluster/health", .json(#"{"status":"red"}"#))
        http.on("GET", "9200", Self.fixture("root.json"))
        let error = await #expect(throws: IngestError.self) { try await makeIndex(http).checkHealth() }
        #expect(error?.reason == .serviceUnavailable)
    }
}

@Suite struct OpenSearchTransportErrorTests {
    @Test func untrustedCertificateIsNotRetriedAndNamesCAVariable() async throws {
        let http = FakeHTTPTransport()
        // What AsyncHTTPTransport produced against osproxy's self-signed certificate (the cause
        // is classified from NIOSSL's error type).
        http.on("GET", "os.test", .error(IngestError(.serviceUnavailable, "cannot reach https://os.test:9200: handshakeFailed(NIOSSL.BoringSSLError.sslError([Error: 268435581 error:1000007d:SSL routines:OPENSSL_internal:CERTIFICATE_VERIFY_FAILED]))", transient: true, transportFailure: .tlsHandshake)))
        let index = try OpenSearchIndex(configuration: OpenSearchConfiguration(host: "https://os.test:9200", retry: OpenSearchIndexTests.fastRetry), transport: http)
        let error = await #expect(throws: IngestError.self) { try await index.prepare(index: "docs", vectorField: "v", dimension: 3) }
        #expect(error?.reason == .serviceUnavailable)
        #expect(error?.isTransient == false)
        #expect(error?.message.contains("OPENSEARCH_CA_CERT") == true)
        #expect(http.requests.count == 1)
    }

    @Test func connectionErrorsAreRetriedThenNameTheSettings() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", "os.test", .connectionRefused("http://os.test:9200/docs/_mapping"))
        let index = try OpenSearchIndex(configuration: OpenSearchConfiguration(host: "os.test", retry: OpenSearchIndexTests.fastRetry), transport: http)
        let error = await #expect(throws: IngestError.self) { try await index.prepare(index: "docs", vectorField: "v", dimension: 3) }
        #expect(error?.reason == .serviceUnavailable)
        #expect(error?.message.contains("OPENSEARCH_HOST") == true)
        #expect(http.requests.count == OpenSearchIndexTests.fastRetry.maxAttempts)
    }
}
