import IngestKit

/// The retrieval OpenRAG runs, rebuilt so `ingest search` asks the index exactly what OpenRAG
/// asks it: which embedding spaces it holds, then one hybrid query (a k-NN query per space it
/// could embed the question for, a fuzzy `multi_match` on `text` and `filename`, and a
/// `match_phrase_prefix` on `text`, with OpenRAG's boosts). Pure: bodies in, answers parsed.
///
/// Read from langflow-ai/openrag `src/services/search_service.py`, the embedding-spaces version
/// (after PR #2321; the code index served that file without naming its commit, so the bodies
/// below are pinned by unit tests instead), with `src/utils/embedding_fields.py` at
/// 17dde4f15911c288636bdecd8b5374197c5d835b (`build_embedding_space_aggregation`,
/// `embedding_spaces_from_aggregation`, `get_embedding_field_name`). Left out on purpose: the
/// facet aggregations (they do not change the hits), the user's filters and document-level
/// security (OpenRAG's UI and security plugin, not the query), and the exact-token file narrowing
/// applied to the hits afterwards.
package enum HybridQuery {
    /// Buckets per page of the space discovery (OpenRAG's EMBEDDING_SPACE_PAGE_SIZE).
    package static let spacePageSize = 100
    /// `k` and `num_candidates` of each k-NN clause, as OpenRAG sends them.
    package static let knnK = 50
    package static let numCandidates = 1000
    /// Weights of the clauses: 0.7 semantic (`dis_max` over the k-NN clauses, best one only),
    /// 0.3 keywords (1.0 when no k-NN clause could be built), 0.25 prefix.
    package static let knnBoost = 0.7
    package static let keywordBoost = 0.3
    package static let keywordOnlyBoost = 1.0
    package static let prefixBoost = 0.25

    /// The `_source` fields OpenRAG asks for, plus ours that `ingest search` prints.
    package static let sourceFields: [String] = [
        ChunkField.filename, ChunkField.mimetype, ChunkField.page, ChunkField.text, "source_url",
        ChunkField.owner, ChunkField.ownerName, ChunkField.ownerEmail, ChunkField.fileSize,
        ChunkField.connectorType, ChunkField.embeddingModel, ChunkField.embeddingProvider,
        ChunkField.embeddingSpaceID, ChunkField.embeddingDimensions,
        ChunkField.headings, ChunkField.pages, ChunkField.source, ChunkField.chunkIndex,
    ]

    // MARK: - Discovering the spaces of an index

    /// One page of OpenRAG's space discovery: a composite aggregation on `embedding_space_id`
    /// (qualified spaces), or, with `legacy`, on `embedding_model` over the chunks that have no
    /// `embedding_space_id` (legacy spaces).
    package static func spacesQuery(legacy: Bool, after: JSONValue?, pageSize: Int = spacePageSize) -> JSONValue {
        let field = legacy ? ChunkField.embeddingModel : ChunkField.embeddingSpaceID
        let key = legacy ? "model" : "space_id"
        var composite: [String: JSONValue] = [
            "size": .int(pageSize),
            "sources": [[key: ["terms": ["field": .string(field)]]]],
        ]
        if let after { composite["after"] = after }
        var body: [String: JSONValue] = [
            "size": 0,
            "aggs": [aggregationName(legacy: legacy): ["composite": .object(composite)]],
        ]
        if legacy {
            body["query"] = ["bool": ["must_not": [["exists": ["field": .string(ChunkField.embeddingSpaceID)]]]]]
        }
        return .object(body)
    }

    static func aggregationName(legacy: Bool) -> String { legacy ? "legacy_embedding_models" : "embedding_spaces" }

    /// Reads one page of ``spacesQuery(legacy:after:pageSize:)``: the spaces (a legacy model is a
    /// space without provider) with their chunk counts, the number of buckets, and the cursor.
    /// - Throws: ``IngestError`` `internal` for an answer without the aggregation.
    package static func parseSpacesPage(_ body: JSONValue, legacy: Bool) throws -> (spaces: [(space: EmbeddingSpace, chunks: Int)], buckets: Int, after: JSONValue?) {
        let name = aggregationName(legacy: legacy)
        guard let aggregation = body["aggregations"]?[name], let buckets = aggregation["buckets"]?.arrayValue else {
            throw IngestError(.internalError, "OpenSearch answered the embedding-space query without the \(name) aggregation: \(body.jsonString().prefix(300))")
        }
        let key = legacy ? "model" : "space_id"
        let spaces = buckets.compactMap { bucket -> (space: EmbeddingSpace, chunks: Int)? in
            guard let value = (bucket["key"]?[key] ?? bucket["key"])?.stringValue, !value.isEmpty else { return nil }
            let space = legacy ? EmbeddingSpace(model: value) : EmbeddingSpace(spaceID: value)
            return (space, bucket["doc_count"]?.intValue ?? 0)
        }
        return (spaces, buckets.count, aggregation["after_key"])
    }

    /// The vector fields a question embedded by `model` can be compared with: those of every
    /// space found whose model is `model` (the provider only routes the call; the same model gives
    /// the same vectors), or `ours` when the index holds no chunks yet (OpenRAG falls back to its
    /// configured model likewise). The other spaces are returned apart: their chunks are found
    /// by keywords only, as OpenRAG does for a model it cannot embed.
    package static func plan(found: [EmbeddingSpace], ours: EmbeddingSpace) -> (fields: [String], skipped: [EmbeddingSpace]) {
        guard !found.isEmpty else { return ([OpenSearchIndex.vectorFieldName(for: ours)], []) }
        var fields: [String] = []
        var skipped: [EmbeddingSpace] = []
        for space in found {
            if space.model == ours.model {
                let field = OpenSearchIndex.vectorFieldName(for: space)
                if !fields.contains(field) { fields.append(field) }
            } else {
                skipped.append(space)
            }
        }
        return (fields, skipped)
    }

    // MARK: - The hybrid query

    /// OpenRAG's hybrid query for `question`: a `dis_max` of one k-NN clause per entry of
    /// `vectors` (field → the question's vector), a `multi_match` and a `match_phrase_prefix`,
    /// any one of which must match. Without vectors it is OpenRAG's keyword fallback (the
    /// `multi_match` at full weight). `numCandidates` false drops `num_candidates` from the k-NN
    /// clauses, OpenRAG's retry for clusters that refuse that field.
    package static func body(question: String, vectors: [(field: String, vector: [Float])], size: Int, numCandidates: Bool = true) -> JSONValue {
        var should: [JSONValue] = []
        if !vectors.isEmpty {
            let knn: [JSONValue] = vectors.map { field, vector in
                var clause: [String: JSONValue] = [
                    "vector": .array(vector.map { .double(Double($0)) }),
                    "k": .int(knnK),
                ]
                if numCandidates { clause["num_candidates"] = .int(Self.numCandidates) }
                return ["knn": [field: .object(clause)]]
            }
            should.append(["dis_max": ["tie_breaker": 0.0, "boost": .double(knnBoost), "queries": .array(knn)]])
        }
        should.append([
            "multi_match": [
                "query": .string(question),
                "fields": ["text^2", "filename^1.5"],
                "type": "best_fields",
                "operator": "or",
                "fuzziness": "AUTO:4,7",
                "boost": .double(vectors.isEmpty ? keywordOnlyBoost : keywordBoost),
            ],
        ])
        should.append([
            "match_phrase_prefix": [
                "text": ["query": .string(question), "max_expansions": 50, "boost": .double(prefixBoost)],
            ],
        ])
        return [
            "query": ["bool": ["should": .array(should), "minimum_should_match": 1, "filter": []]],
            "_source": .array(sourceFields.map { .string($0) }),
            "size": .int(size),
        ]
    }

    /// The hits of a `_search` answer, best first, as OpenSearch ranked them.
    /// - Throws: ``IngestError`` `internal` for an answer without `hits.hits`.
    package static func parseHits(_ body: JSONValue) throws -> [SearchHit] {
        guard let hits = body["hits"]?["hits"]?.arrayValue else {
            throw IngestError(.internalError, "OpenSearch answered the search without hits: \(body.jsonString().prefix(300))")
        }
        return hits.map { hit in
            SearchHit(id: hit["_id"]?.stringValue ?? "", score: hit["_score"]?.doubleValue, fields: hit["_source"]?.objectValue ?? [:])
        }
    }

    /// Whether a 400 to the hybrid query says the server cannot run `knn` queries at all (no
    /// k-NN plugin, or osmem: "[knn] query is not supported by osmem"), rather than that this
    /// query is wrong.
    package static func refusesKNN(_ errorText: String) -> Bool {
        let text = errorText.lowercased()
        guard text.contains("knn") else { return false }
        return ["not supported", "unsupported", "unknown query", "no [query] registered", "unknown field [knn]"].contains { text.contains($0) }
    }

    /// Whether a 400 names `num_candidates` as unknown (OpenRAG's check, verbatim).
    package static func refusesNumCandidates(_ errorText: String) -> Bool {
        errorText.lowercased().contains("unknown field [num_candidates]")
    }
}

/// One chunk found by ``HybridQuery``: its `_id`, its score and its stored fields (no vector).
package struct SearchHit: Sendable, Equatable {
    package var id: String
    package var score: Double?
    package var fields: [String: JSONValue]

    package init(id: String, score: Double?, fields: [String: JSONValue]) {
        self.id = id
        self.score = score
        self.fields = fields
    }
}
