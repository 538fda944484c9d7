/// One chunk as the pipeline hands it to the index: typed fields plus its vector. The index
/// implementation owns the field names and the wire encoding (OpenSearch: ``ChunkField`` and
/// `BulkEntry` in IngestOpenSearch), so the pipeline never spells a field name.
package struct ChunkRecord: Sendable, Equatable {
    /// The deterministic `_id` (under 512 bytes).
    package var id: String
    package var text: String
    package var chunkIndex: Int
    /// Chunks in the generation, so a reader can tell a complete generation from a partial one.
    package var chunkCount: Int
    package var headings: [String]
    /// Every page the chunk spans (the first is recorded as `page`).
    package var pages: [Int]
    /// What re-ingestion and deletion match on: a file's real path, a URL, or a given name.
    package var source: String
    /// SHA-256 of the document's bytes.
    package var documentID: String
    package var generation: String
    package var filename: String
    package var mimetype: String?
    package var fileSize: Int
    /// ISO 8601, when the document was written.
    package var indexedTime: String
    package var owner: String?
    package var ownerName: String?
    package var ownerEmail: String?
    package var connectorType: String?
    /// The exact model identifier; the index derives the vector field's name from it.
    package var embeddingModel: String
    /// OpenRAG's provider key (EMBEDDING_PROVIDER), or nil for the legacy layout: with it the
    /// index also records `embedding_provider` and `embedding_space_id` and names the vector
    /// field after the space (``EmbeddingSpace``).
    package var embeddingProvider: String?
    /// Float end to end: as the embedder returned it, as the index stores it.
    package var vector: [Float]

    package init(
        id: String, text: String, chunkIndex: Int, chunkCount: Int, headings: [String], pages: [Int],
        source: String, documentID: String, generation: String, filename: String, mimetype: String?,
        fileSize: Int, indexedTime: String, owner: String? = nil, ownerName: String? = nil,
        ownerEmail: String? = nil, connectorType: String? = nil, embeddingModel: String, embeddingProvider: String? = nil,
        vector: [Float]
    ) {
        self.id = id; self.text = text; self.chunkIndex = chunkIndex; self.chunkCount = chunkCount
        self.headings = headings; self.pages = pages; self.source = source; self.documentID = documentID
        self.generation = generation; self.filename = filename; self.mimetype = mimetype
        self.fileSize = fileSize; self.indexedTime = indexedTime; self.owner = owner
        self.ownerName = ownerName; self.ownerEmail = ownerEmail; self.connectorType = connectorType
        self.embeddingModel = embeddingModel; self.embeddingProvider = embeddingProvider; self.vector = vector
    }

    /// The space the vector belongs to (its field name and, with a provider, its space id).
    package var space: EmbeddingSpace { EmbeddingSpace(model: embeddingModel, provider: embeddingProvider) }
}

/// What the index holds for one source: per generation, how many chunks are stored and the
/// `chunk_count` they record.
package struct StoredSource: Sendable, Equatable {
    package struct Generation: Sendable, Equatable {
        package var generation: String
        package var storedChunks: Int
        package var chunkCount: Int

        package init(generation: String, storedChunks: Int, chunkCount: Int) {
            self.generation = generation
            self.storedChunks = storedChunks
            self.chunkCount = chunkCount
        }
        /// Every chunk of the generation is there.
        package var isComplete: Bool { storedChunks == chunkCount && chunkCount > 0 }
    }

    package var generations: [Generation]

    package init(generations: [Generation]) { self.generations = generations }
    package static let empty = StoredSource(generations: [])
}

/// The search index the chunks go to (OpenSearch in production, in memory in tests).
package protocol ChunkIndex: Sendable {
    /// Creates `index` if missing with the schema mapping (see README) and, when it exists
    /// (created by us or by another tool), adds what it lacks: the vector field of `space` with
    /// `dimension`, and the metadata fields of the layout. Called before every write, so the
    /// vector field is a `knn_vector` before the first chunk lands (dynamic mapping would make it
    /// a plain float array).
    /// - Throws: ``IngestError`` `dimension_mismatch` when the field exists with another dimension,
    ///   `auth_failed`, `service_unavailable`.
    func prepare(index: String, space: EmbeddingSpace, dimension: Int) async throws

    /// What `index` stores for `source` (empty when the index does not exist).
    func storedSource(index: String, source: String) async throws -> StoredSource

    /// Writes chunks with `_bulk` (`index` actions), in batches sized by bytes, re-sending
    /// only items that got 429/5xx. With `refresh`, the last request uses `refresh=wait_for`.
    /// - Throws: ``IngestError`` `index_rejected` naming the first permanent item error.
    func write(index: String, records: [ChunkRecord], refresh: Bool) async throws

    /// Deletes the chunks of `source`, except those of `keepGeneration` when given; returns how many.
    func deleteChunks(index: String, source: String, keepGeneration: String?) async throws -> Int

    /// Every distinct `source` stored in `index` that starts with `prefix`.
    func sources(index: String, prefix: String) async throws -> [String]

    /// Checks the cluster answers with our credentials; throws ``IngestError``.
    func checkHealth() async throws

    /// Takes the per-source lease that keeps two processes from writing and swapping generations
    /// of one source at the same time (one would delete the other's chunks). Returns true when
    /// `owner` holds it now (taken, or already its own); false when another live owner holds it.
    /// A lease past its expiry, or one whose owner is known to be dead (see
    /// ``LeaseOwner/isAbandoned(holder:)``), is taken over.
    func acquireLease(index: String, source: String, owner: LeaseOwner, ttl: Duration) async throws -> Bool

    /// Extends the lease `owner` holds to `ttl` from now with a write conditional on the lease
    /// being the one just read (OpenSearch: `if_seq_no`/`if_primary_term`). Returns false when
    /// the lease is no longer `owner`'s (gone, taken over, or changed under us: a 409).
    func renewLease(index: String, source: String, owner: LeaseOwner, ttl: Duration) async throws -> Bool

    /// Gives the lease back, only if `owner` still holds it (a lease taken over after expiry is
    /// left to its new holder).
    func releaseLease(index: String, source: String, owner: LeaseOwner) async throws
}

extension ChunkIndex {
    /// ``prepare(index:space:dimension:)`` for the legacy layout (no provider).
    package func prepare(index: String, embeddingModel: String, dimension: Int) async throws {
        try await prepare(index: index, space: EmbeddingSpace(model: embeddingModel), dimension: dimension)
    }
}
