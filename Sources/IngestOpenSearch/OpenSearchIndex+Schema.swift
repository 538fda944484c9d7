import Foundation
import IngestKit

/// The names of the per-chunk fields, in one place so the pipeline that fills them, the mapping
/// that types them and the queries that read them cannot drift apart.
package enum ChunkField {
    /// The chunk text (BM25 leg of the hybrid search and the returned content).
    package static let text = "text"
    /// The exact model identifier; OpenRAG derives the vector field from it (legacy layout).
    package static let embeddingModel = "embedding_model"
    /// OpenRAG's provider key, lower case; written only with EMBEDDING_PROVIDER (space layout).
    package static let embeddingProvider = "embedding_provider"
    /// `<provider>:<model>`; written only with EMBEDDING_PROVIDER. OpenRAG discovers the spaces
    /// of an index with a composite aggregation on it, so it must be a keyword.
    package static let embeddingSpaceID = "embedding_space_id"
    package static let embeddingDimensions = "embedding_dimensions"
    package static let filename = "filename"
    package static let mimetype = "mimetype"
    package static let owner = "owner"
    package static let ownerName = "owner_name"
    package static let ownerEmail = "owner_email"
    package static let connectorType = "connector_type"
    /// Our identity of the document (path or URL): what re-ingestion and deletion match on.
    package static let source = "source"
    /// Content hash of the document (OpenRAG's `document_id`).
    package static let documentID = "document_id"
    /// Which write of the source a chunk belongs to; stale generations are deleted.
    package static let generation = "generation"
    package static let chunkIndex = "chunk_index"
    /// Chunks in the generation, so a reader can tell a complete generation from a partial one.
    package static let chunkCount = "chunk_count"
    /// The first page of the chunk (what OpenRAG shows).
    package static let page = "page"
    /// Every page the chunk spans.
    package static let pages = "pages"
    package static let headings = "headings"
    package static let fileSize = "file_size"
    package static let indexedTime = "indexed_time"
}

extension OpenSearchIndex {
    /// The vector field of a space: named after its space id (`openai_like:all-MiniLM-L6-v2` →
    /// `chunk_embedding_openai_like_all_minilm_l6_v2`), or after the model in the legacy layout.
    package static func vectorFieldName(for space: EmbeddingSpace) -> String {
        vectorFieldName(forModel: space.fieldIdentity)
    }

    /// The vector field for a model (or a space id), bit-for-bit as Langflow/OpenRAG derive it, so
    /// their retrieval finds our vectors: `chunk_embedding_` + the name lower-cased, every run of
    /// characters that are not letters or digits (`_` included) turned into one `_`, leading and
    /// trailing `_` stripped (`all-MiniLM-L6-v2` → `chunk_embedding_all_minilm_l6_v2`).
    ///
    /// OpenRAG's `normalize_model_name` (langflow-ai/openrag `src/utils/embedding_fields.py` at
    /// 17dde4f15911c288636bdecd8b5374197c5d835b) lower-cases, turns `-` `:` `/` `.` and every other
    /// character that is not `isalnum()` into `_`, keeps `_`, collapses `__` and strips `_`: the
    /// same result. Python's `isalnum()` is a Unicode letter or number (categories L* and N*),
    /// decided per code point, so this walks Unicode scalars, not grapheme clusters (a decomposed
    /// `é` is `e` + a combining mark, and the mark becomes `_` there too).
    package static func vectorFieldName(forModel model: String) -> String {
        var out = ""
        var pendingUnderscore = false
        for scalar in model.lowercased().unicodeScalars {
            if isLetterOrNumber(scalar) {
                if pendingUnderscore && !out.isEmpty { out.append("_") }
                pendingUnderscore = false
                out.unicodeScalars.append(scalar)
            } else {
                pendingUnderscore = true
            }
        }
        return "chunk_embedding_" + out
    }

    /// Python's `str.isalnum()` for one code point: general category L* or N*.
    static func isLetterOrNumber(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter,
             .decimalNumber, .letterNumber, .otherNumber:
            return true
        default:
            return false
        }
    }

    /// The mapping of one vector field: HNSW on the Lucene engine, because it is the one method
    /// that exists on stock OpenSearch 2.2+, 3.x and jvector-plugin clusters alike; `l2`,
    /// `m` 16 and `ef_construction` 512 as Langflow creates it, so both define the same field.
    package static func vectorFieldMapping(dimension: Int) -> JSONValue {
        [
            "type": "knn_vector",
            "dimension": .int(dimension),
            "method": [
                "name": "hnsw",
                "engine": "lucene",
                "space_type": "l2",
                "parameters": ["m": 16, "ef_construction": 512],
            ],
        ]
    }

    /// The mapping of every field except the vector fields. Keywords for everything filtered or
    /// aggregated on (OpenRAG's facets use `term`/`terms`, which miss on `text` fields).
    /// `owner_name` and `headings` are `text` (found by words) with a `keyword` sub-field (exact
    /// filters and facets: "chunks under section X").
    package static let metadataProperties: [String: JSONValue] = {
        let keyword: JSONValue = ["type": "keyword"]
        let integer: JSONValue = ["type": "integer"]
        let textWithKeyword: JSONValue = ["type": "text", "fields": ["keyword": ["type": "keyword", "ignore_above": 256]]]
        return [
            ChunkField.text: ["type": "text"],
            ChunkField.embeddingModel: keyword,
            ChunkField.embeddingDimensions: integer,
            ChunkField.filename: keyword,
            ChunkField.mimetype: keyword,
            ChunkField.owner: keyword,
            ChunkField.ownerName: textWithKeyword,
            ChunkField.ownerEmail: keyword,
            ChunkField.connectorType: keyword,
            ChunkField.source: keyword,
            ChunkField.documentID: keyword,
            ChunkField.generation: keyword,
            ChunkField.chunkIndex: integer,
            ChunkField.chunkCount: integer,
            ChunkField.page: integer,
            ChunkField.pages: integer,
            ChunkField.headings: textWithKeyword,
            ChunkField.fileSize: ["type": "long"],
            ChunkField.indexedTime: ["type": "date"],
        ]
    }()

    /// The fields of the space layout, keywords as OpenRAG's `ensure_embedding_field_exists` maps
    /// them (its space discovery aggregates on `embedding_space_id`).
    package static let spaceProperties: [String: JSONValue] = [
        ChunkField.embeddingProvider: ["type": "keyword"],
        ChunkField.embeddingSpaceID: ["type": "keyword"],
    ]

    /// Every non-vector field a write of `space` needs mapped: ``metadataProperties``, plus
    /// ``spaceProperties`` in the space layout.
    package static func fieldProperties(for space: EmbeddingSpace) -> [String: JSONValue] {
        space.isLegacy ? metadataProperties : metadataProperties.merging(spaceProperties) { a, _ in a }
    }

    /// ``indexBody(vectorField:dimension:metadata:)`` for `space`: its vector field and its fields.
    package static func indexBody(space: EmbeddingSpace, dimension: Int) -> JSONValue {
        indexBody(vectorField: vectorFieldName(for: space), dimension: dimension, metadata: fieldProperties(for: space))
    }

    /// The body of `PUT /<index>`: k-NN on, one shard, no replicas (a single-node cluster stays
    /// yellow forever otherwise), and the schema. The README and the Kubernetes init Job print it
    /// with ``indexBodyText(vectorField:dimension:)``.
    package static func indexBody(vectorField: String, dimension: Int, metadata: [String: JSONValue] = metadataProperties) -> JSONValue {
        var properties = metadata
        properties[vectorField] = vectorFieldMapping(dimension: dimension)
        return [
            "settings": ["index": ["knn": true, "number_of_shards": 1, "number_of_replicas": 0]],
            "mappings": ["properties": .object(properties)],
        ]
    }

    /// ``indexBody(vectorField:dimension:)`` as indented JSON with sorted keys, for `ingest schema`.
    package static func indexBodyText(vectorField: String, dimension: Int) -> String {
        text(indexBody(vectorField: vectorField, dimension: dimension))
    }

    /// ``indexBody(space:dimension:)`` as indented JSON with sorted keys, for `ingest schema`.
    package static func indexBodyText(space: EmbeddingSpace, dimension: Int) -> String {
        text(indexBody(space: space, dimension: dimension))
    }

    private static func text(_ body: JSONValue) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(body)) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }
}

/// What an existing index's mapping says about our fields, decided without I/O.
package struct MappingCheck: Sendable, Equatable {
    /// The state of the vector field.
    package enum Vector: Sendable, Equatable {
        /// Present with the dimension we need.
        case matches
        /// Absent: add it with `PUT _mapping`.
        case missing
        /// A `knn_vector` of another dimension.
        case otherDimension(Int)
        /// Present but not a `knn_vector` (or without a dimension).
        case notAVector(type: String)
    }

    package var vector: Vector
    /// Schema fields the index lacks; added with the vector field (mapping updates are additive).
    package var missingFields: [String: JSONValue]
    /// Fields our queries depend on that the index maps with another type, e.g. `source` as
    /// `text` (`term` queries would silently match nothing): field → the type found.
    package var conflictingFields: [String: String]

    /// Fields whose type our own queries rely on (`term` on keywords, `max` on numbers).
    static let queriedFields: [String: Set<String>] = [
        ChunkField.source: ["keyword"],
        ChunkField.generation: ["keyword"],
        ChunkField.documentID: ["keyword"],
        ChunkField.chunkCount: ["integer", "long", "short"],
    ]

    /// Compares the `properties` of an existing mapping with what we are about to write.
    /// - Parameter metadata: the non-vector fields the write needs (``OpenSearchIndex/fieldProperties(for:)``);
    ///   in the space layout `embedding_space_id` must then be a keyword too (OpenRAG aggregates on it).
    package init(properties: [String: JSONValue], vectorField: String, dimension: Int, metadata: [String: JSONValue] = OpenSearchIndex.metadataProperties) {
        if let field = properties[vectorField] {
            let type = field["type"]?.stringValue ?? "object"
            if type != "knn_vector" {
                vector = .notAVector(type: type)
            } else if let existing = field["dimension"]?.intValue {
                vector = existing == dimension ? .matches : .otherDimension(existing)
            } else {
                vector = .notAVector(type: "knn_vector without a dimension")
            }
        } else {
            vector = .missing
        }
        missingFields = metadata.filter { properties[$0.key] == nil }
        var queried = Self.queriedFields
        if metadata[ChunkField.embeddingSpaceID] != nil { queried[ChunkField.embeddingSpaceID] = ["keyword"] }
        var conflicts: [String: String] = [:]
        for (name, accepted) in queried {
            if let type = properties[name].map({ $0["type"]?.stringValue ?? "object" }), !accepted.contains(type) {
                conflicts[name] = type
            }
        }
        conflictingFields = conflicts
    }

    /// The body of `PUT /<index>/_mapping` that completes the index, or nil when nothing is missing.
    package func mappingUpdate(vectorField: String, dimension: Int) -> JSONValue? {
        var properties = missingFields
        if vector == .missing { properties[vectorField] = OpenSearchIndex.vectorFieldMapping(dimension: dimension) }
        return properties.isEmpty ? nil : ["properties": .object(properties)]
    }

    /// The error that stops writing to this index, if any: a vector field of another dimension
    /// or type, or a queried field of the wrong type.
    package func blockingError(index: String, vectorField: String, dimension: Int) -> IngestError? {
        switch vector {
        case .otherDimension(let existing):
            return IngestError(.dimensionMismatch, "index '\(index)' already has vector field '\(vectorField)' with dimension \(existing), but the embedding model produces \(dimension)-dimensional vectors; a field's dimension can never change, so use another index (OPENSEARCH_INDEX) or the model the index was built with")
        case .notAVector(let type):
            return IngestError(.dimensionMismatch, "index '\(index)' maps '\(vectorField)' as \(type), not as a knn_vector of dimension \(dimension); use another index (OPENSEARCH_INDEX)")
        case .matches, .missing:
            break
        }
        if let (name, type) = conflictingFields.sorted(by: { $0.key < $1.key }).first {
            let wanted = Self.queriedFields[name]?.sorted().first ?? "keyword"
            let why = name == ChunkField.embeddingSpaceID
                ? "OpenRAG finds the embedding spaces of an index by aggregating on it"
                : "ingest needs \(wanted) to find and replace earlier chunks"
            return IngestError(.configuration, "index '\(index)' maps field '\(name)' as \(type), but \(why) (the index was probably created by another tool with dynamic mapping); use another index (OPENSEARCH_INDEX) or create it with `ingest schema`")
        }
        return nil
    }
}
