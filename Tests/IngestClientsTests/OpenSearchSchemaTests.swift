import Foundation
import IngestKit
import Testing

@testable import IngestOpenSearch

@Suite struct OpenSearchSchemaTests {
    /// The model names Langflow/OpenRAG retrieval maps to vector fields, plus our default model.
    @Test(arguments: [
        ("text-embedding-3-small", "chunk_embedding_text_embedding_3_small"),
        ("text-embedding-3-large", "chunk_embedding_text_embedding_3_large"),
        ("nomic-embed-text:latest", "chunk_embedding_nomic_embed_text_latest"),
        ("ibm/slate-125m-english-rtrvr", "chunk_embedding_ibm_slate_125m_english_rtrvr"),
        ("sentence-transformers/all-MiniLM-L6-v2", "chunk_embedding_sentence_transformers_all_minilm_l6_v2"),
        ("all-MiniLM-L6-v2", "chunk_embedding_all_minilm_l6_v2"),
        ("--Odd..Model__Name--", "chunk_embedding_odd_model_name"),
        ("BAAI/bge-m3 @ v1.5", "chunk_embedding_baai_bge_m3_v1_5"),
    ])
    func vectorFieldName(model: String, field: String) {
        #expect(OpenSearchIndex.vectorFieldName(forModel: model) == field)
    }

    @Test func indexBodyHasTheSchema() {
        let body = OpenSearchIndex.indexBody(vectorField: "chunk_embedding_all_minilm_l6_v2", dimension: 384)
        #expect(body["settings"]?["index"] == ["knn": true, "number_of_shards": 1, "number_of_replicas": 0])
        let properties = body["mappings"]?["properties"]
        #expect(properties?["chunk_embedding_all_minilm_l6_v2"] == [
            "type": "knn_vector", "dimension": 384,
            "method": ["name": "hnsw", "engine": "lucene", "space_type": "l2", "parameters": ["m": 16, "ef_construction": 512]],
        ])
        for keyword in ["filename", "mimetype", "owner", "source", "document_id", "generation", "owner_email", "connector_type", "embedding_model"] {
            #expect(properties?[keyword]?["type"] == "keyword", "\(keyword)")
        }
        for integer in ["chunk_index", "chunk_count", "page", "pages", "embedding_dimensions"] {
            #expect(properties?[integer]?["type"] == "integer", "\(integer)")
        }
        #expect(properties?["text"]?["type"] == "text")
        #expect(properties?["owner_name"]?["fields"]?["keyword"]?["type"] == "keyword")
        #expect(properties?["headings"]?["type"] == "text")
        #expect(properties?["file_size"]?["type"] == "long")
        #expect(properties?["indexed_time"]?["type"] == "date")
        let text = OpenSearchIndex.indexBodyText(vectorField: "v", dimension: 3)
        #expect(text.contains("\"knn\" : true"))
        #expect((try? JSONValue.parse(Data(text.utf8), what: "schema")) == OpenSearchIndex.indexBody(vectorField: "v", dimension: 3))
    }

    @Test func mappingCheckOnOurOwnIndexMatches() {
        let properties = OpenSearchIndex.indexBody(vectorField: "v", dimension: 3)["mappings"]?["properties"]?.objectValue ?? [:]
        let check = MappingCheck(properties: properties, vectorField: "v", dimension: 3)
        #expect(check.vector == .matches)
        #expect(check.missingFields.isEmpty && check.conflictingFields.isEmpty)
        #expect(check.mappingUpdate(vectorField: "v", dimension: 3) == nil)
        #expect(check.blockingError(index: "docs", vectorField: "v", dimension: 3) == nil)
    }

    @Test func mappingCheckAddsMissingVectorAndFields() throws {
        let mapping = try JSONValue.parse(Fixtures.data("opensearch/mapping.json"), what: "fixture")
        let properties = mapping["t1"]?["mappings"]?["properties"]?.objectValue ?? [:]
        let check = MappingCheck(properties: properties, vectorField: "chunk_embedding_m", dimension: 3)
        #expect(check.vector == .missing)
        let update = check.mappingUpdate(vectorField: "chunk_embedding_m", dimension: 3)
        #expect(update?["properties"]?["chunk_embedding_m"]?["dimension"] == 3)
        #expect(update?["properties"]?["text"] == ["type": "text"])
        #expect(update?["properties"]?["source"] == nil, "existing fields are not redefined")
    }

    @Test func mappingCheckDimensionMismatch() throws {
        let mapping = try JSONValue.parse(Fixtures.data("opensearch/mapping.json"), what: "fixture")
        let properties = mapping["t1"]?["mappings"]?["properties"]?.objectValue ?? [:]
        let check = MappingCheck(properties: properties, vectorField: "v", dimension: 384)
        #expect(check.vector == .otherDimension(3))
        let error = try #require(check.blockingError(index: "t1", vectorField: "v", dimension: 384))
        #expect(error.reason == .dimensionMismatch)
        for part in ["'t1'", "'v'", "3", "384", "another index"] { #expect(error.message.contains(part), "\(part)") }
    }

    @Test func mappingCheckRefusesTextSource() {
        let properties: [String: JSONValue] = ["source": ["type": "text", "fields": ["keyword": ["type": "keyword"]]], "v": ["type": "float"]]
        let check = MappingCheck(properties: properties, vectorField: "w", dimension: 3)
        #expect(check.conflictingFields == ["source": "text"])
        #expect(check.blockingError(index: "docs", vectorField: "w", dimension: 3)?.reason == .configuration)
        let notVector = MappingCheck(properties: properties, vectorField: "v", dimension: 3)
        #expect(notVector.vector == .notAVector(type: "float"))
    }
}

@Suite struct OpenSearchBulkEncodingTests {
    static let record = ChunkRecord(
        id: "h_g1_0", text: "Hello \"world\"\n", chunkIndex: 0, chunkCount: 2, headings: ["Intro"], pages: [1, 2],
        source: "/d/a.pdf", documentID: "abc", generation: "g1", filename: "a.pdf", mimetype: "application/pdf",
        fileSize: 123, indexedTime: "2026-12-06T00:00:00Z", owner: "o", ownerName: "Ann", ownerEmail: "a@x",
        connectorType: "upload", embeddingModel: "all-MiniLM-L6-v2", vector: [0.1, -0.25, 3]
    )

    /// The typed record writes the bytes the pipeline's `[String: JSONValue]` `_source` wrote
    /// before (every field, sorted keys, the vector's Floats in shortest form), with no
    /// dictionary in between now.
    @Test func chunkRecordBytesEqualTheUntypedSource() throws {
        let record = Self.record
        let entry = try BulkEntry(record: record, vectorField: OpenSearchIndex.vectorFieldName(forModel: record.embeddingModel), position: 0)
        let expected = #"{"index":{"_id":"h_g1_0"}}"# + "\n"
            + #"{"chunk_count":2,"chunk_embedding_all_minilm_l6_v2":[0.1,-0.25,3.0],"chunk_index":0,"connector_type":"upload","document_id":"abc","embedding_dimensions":3,"embedding_model":"all-MiniLM-L6-v2","file_size":123,"filename":"a.pdf","generation":"g1","headings":["Intro"],"indexed_time":"2026-12-06T00:00:00Z","mimetype":"application/pdf","owner":"o","owner_email":"a@x","owner_name":"Ann","page":1,"pages":[1,2],"source":"/d/a.pdf","text":"Hello \"world\"\n"}"# + "\n"
        #expect(String(decoding: entry.lines, as: UTF8.self) == expected)
        #expect(entry.position == 0 && entry.id == "h_g1_0")

        // The route before: the `_source` as JSONValue, the vector widened to Double, written
        // with sorted keys.
        let untyped: JSONValue = [
            "embedding_model": "all-MiniLM-L6-v2", "filename": "a.pdf", "source": "/d/a.pdf", "document_id": "abc",
            "generation": "g1", "chunk_count": 2, "file_size": 123, "indexed_time": "2026-12-06T00:00:00Z",
            "mimetype": "application/pdf", "owner": "o", "owner_name": "Ann", "owner_email": "a@x", "connector_type": "upload",
            "text": "Hello \"world\"\n", "chunk_index": 0, "headings": ["Intro"], "pages": [1, 2], "page": 1, "embedding_dimensions": 3,
            "chunk_embedding_all_minilm_l6_v2": .array(record.vector.map { .double(Double($0)) }),
        ]
        var json = JSONWriter()
        json.raw(#"{"index":{"_id":"h_g1_0"}}"# + "\n")
        try json.value(untyped, path: "")
        json.raw("\n")
        #expect(json.bytes == Array(entry.lines))

        // Optional fields absent, no pages: no `page`, nothing null.
        var bare = record
        bare.mimetype = nil; bare.owner = nil; bare.ownerName = nil; bare.ownerEmail = nil; bare.connectorType = nil; bare.pages = []
        let source = try JSONValue.parse(try BulkEntry(record: bare, vectorField: "v", position: 0).lines.split(separator: 0x0A)[1], what: "line")
        #expect(source.objectValue?.keys.sorted() == ["chunk_count", "chunk_index", "document_id", "embedding_dimensions", "embedding_model", "file_size", "filename", "generation", "headings", "indexed_time", "pages", "source", "text", "v"])
    }

    /// The vector's key goes where it sorts among the fixed keys, whatever it is called.
    @Test(arguments: ["a", "chunk_embedding_x", "embedding_q", "owner_f", "zz", "text_v"])
    func vectorKeySortsAmongTheFixedKeys(vectorField: String) throws {
        var record = Self.record
        record.embeddingProvider = "openai_like"
        let line = try BulkEntry(record: record, vectorField: vectorField, position: 0).lines.split(separator: 0x0A)[1]
        let keys = try Self.topLevelKeys(Data(line))
        #expect(keys == keys.sorted())
        #expect(keys.contains(vectorField) && keys.contains("embedding_space_id") && keys.count == 22)
    }

    /// The keys of a flat JSON object in the order written (values here hold no `":`).
    static func topLevelKeys(_ line: Data) throws -> [String] {
        let text = String(decoding: line, as: UTF8.self)
        let regex = try Regex(#"[{,]"([a-z_]+)":"#)
        return text.matches(of: regex).compactMap { $0.output[1].substring.map(String.init) }
    }

    @Test func doublesThatAreNotFloatsKeepFullPrecision() {
        #expect(JSONWriter.numberText(0.1) == "0.1")
        #expect(JSONWriter.numberText(Double(Float(0.1))) == "0.1")
        #expect(JSONWriter.numberText(0.123456789012) == "0.123456789012")
        #expect(JSONWriter.numberText(.nan) == nil)
        #expect(JSONWriter.numberText(.infinity) == nil)
    }

    @Test func nanInVectorIsEmbedFailed() {
        var record = Self.record
        record.id = "d_3"
        record.vector = [0.5, .nan]
        let error = #expect(throws: IngestError.self) { try BulkEntry(record: record, vectorField: "chunk_embedding_m", position: 3) }
        #expect(error?.reason == .embedFailed)
        #expect(error?.itemIndex == 3)
        #expect(error?.message.contains("d_3") == true)
    }

    @Test func overlongIDIsRejected() {
        var record = Self.record
        record.id = String(repeating: "x", count: 513)
        let error = #expect(throws: IngestError.self) { try BulkEntry(record: record, vectorField: "v", position: 0) }
        #expect(error?.reason == .indexRejected)
    }

    @Test func batcherBoundsBytesAndItems() {
        func entry(_ i: Int, bytes: Int) -> BulkEntry { BulkEntry(position: i, id: "\(i)", lines: Data(count: bytes)) }
        func run(_ sizes: [Int], maxBytes: Int, maxItems: Int) -> [[Int]] {
            var batcher = BulkBatcher(maxBytes: maxBytes, maxItems: maxItems)
            var batches: [[Int]] = []
            for (i, size) in sizes.enumerated() {
                if let full = batcher.add(entry(i, bytes: size)) { batches.append(full.map(\.position)) }
            }
            if let last = batcher.finish() { batches.append(last.map(\.position)) }
            return batches
        }
        #expect(run([40, 40, 40, 40, 40], maxBytes: 100, maxItems: 10) == [[0, 1], [2, 3], [4]])
        #expect(run([40, 60, 1], maxBytes: 100, maxItems: 10) == [[0, 1], [2]], "exactly maxBytes fits")
        #expect(run([10, 10, 10, 10, 10], maxBytes: 1000, maxItems: 2) == [[0, 1], [2, 3], [4]])
        #expect(run([10, 500, 10], maxBytes: 100, maxItems: 10) == [[0], [1], [2]], "an oversized entry travels alone")
        #expect(run([], maxBytes: 100, maxItems: 10) == [])
    }

    @Test func classifiesObservedItemErrors() throws {
        let body = try JSONValue.parse(Fixtures.data("opensearch/bulk-item-errors.json"), what: "fixture")
        let outcome = try BulkOutcome.classify(body, sent: 3)
        #expect(outcome.retry.isEmpty)
        #expect(outcome.rejected.map(\.position) == [1, 2])
        #expect(outcome.rejected.first?.id == "bad_dim")
        #expect(outcome.rejected.first?.status == 400)
        #expect(outcome.rejected.first?.reason.contains("mapper_parsing_exception") == true)
        #expect(outcome.rejected.first?.reason.contains("Vector dimension mismatch. Expected: 3, Given: 2") == true)
    }

    @Test func classifiesRetryableItems() throws {
        let body: JSONValue = ["errors": true, "items": [
            ["index": ["_id": "a", "status": 201]],
            ["index": ["_id": "b", "status": 429, "error": ["type": "es_rejected_execution_exception", "reason": "busy"]]],
            ["index": ["_id": "c", "status": 200]],
            ["index": ["_id": "d", "status": 503, "error": ["type": "unavailable_shards_exception", "reason": "primary shard is not active"]]],
        ]]
        let outcome = try BulkOutcome.classify(body, sent: 4)
        #expect(outcome.retry.map(\.position) == [1, 3])
        #expect(outcome.rejected.isEmpty)
        #expect(try BulkOutcome.classify(["errors": false, "took": 1], sent: 4) == BulkOutcome(retry: [], rejected: []))
        #expect(throws: IngestError.self) { try BulkOutcome.classify(body, sent: 5) }
        #expect(throws: IngestError.self) { try BulkOutcome.classify(["took": 1], sent: 5) }
    }

    @Test func queriesHaveTheExpectedShape() {
        #expect(OpenSearchIndex.deleteQuery(source: "/d/a.pdf", keepGeneration: "g2") == [
            "query": ["bool": ["filter": [["term": ["source": "/d/a.pdf"]]], "must_not": [["term": ["generation": "g2"]]]]],
        ])
        #expect(OpenSearchIndex.deleteQuery(source: "/d/a.pdf", keepGeneration: nil) == [
            "query": ["bool": ["filter": [["term": ["source": "/d/a.pdf"]]]]],
        ])
        let sources = OpenSearchIndex.sourcesQuery(prefix: "/d/", after: ["source": "/d/a"], pageSize: 10)
        #expect(sources["query"] == ["prefix": ["source": "/d/"]])
        #expect(sources["aggs"]?["sources"]?["composite"]?["after"] == ["source": "/d/a"])
        #expect(OpenSearchIndex.sourcesQuery(prefix: "", after: nil, pageSize: 10)["query"] == ["match_all": [:]])
    }

    @Test func parsesStoredSourceAnswer() throws {
        let body = try JSONValue.parse(Fixtures.data("opensearch/stored-source-search.json"), what: "fixture")
        #expect(try OpenSearchIndex.parseStoredSource(body) == StoredSource(generations: [
            .init(generation: "g1", storedChunks: 2, chunkCount: 2),
            .init(generation: "g2", storedChunks: 1, chunkCount: 3),
        ]))
    }

    @Test func indexNames() {
        #expect(IndexName.problem("documents") == nil)
        #expect(IndexName.problem("stepflow-documents_2") == nil)
        #expect(IndexName.problem("Docs") != nil)
        #expect(IndexName.problem("_docs") != nil)
        #expect(IndexName.problem("a/b") != nil)
        #expect(IndexName.problem("") != nil)
        #expect(throws: IngestError.self) { try OpenSearchIndex.indexPath("docs*") }
    }
}
