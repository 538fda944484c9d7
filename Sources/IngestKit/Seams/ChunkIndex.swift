/// One document to write to the index.
package struct IndexDocument: Sendable, Equatable {
    /// The deterministic `_id` (under 512 bytes).
    package var id: String
    /// The `_source`: every schema field plus the vector field.
    package var fields: [String: JSONValue]

    package init(id: String, fields: [String: JSONValue]) {
        self.id = id
        self.fields = fields
    }
}

/// What the index holds for one source: per generation, how many chunks are stored and the
/// `chunk_count` they record.
package struct StoredSource: Sendable, Equatable {
    package struct Generation: Sendable, Equatable {
        package var generation: String
        package var storedChunks: Int
        package var chunkCount: Int
        package var documentID: String?

        package init(generation: String, storedChunks: Int, chunkCount: Int, documentID: String? = nil) {
            self.generation = generation
            self.storedChunks = storedChunks
            self.chunkCount = chunkCount
            self.documentID = documentID
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
    /// Creates `index` if missing with the schema mapping (see README) and makes sure the vector
    /// field exists with `dimension`.
    /// - Throws: ``IngestError`` `dimension_mismatch` when the field exists with another dimension,
    ///   `auth_failed`, `service_unavailable`.
    func prepare(index: String, vectorField: String, dimension: Int) async throws

    /// The dimension of `vectorField` in `index`, or nil when the index or the field does not exist.
    func vectorDimension(index: String, vectorField: String) async throws -> Int?

    /// What `index` stores for `source` (empty when the index does not exist).
    func storedSource(index: String, source: String) async throws -> StoredSource

    /// Writes documents with `_bulk` (`index` actions), in batches sized by bytes, re-sending
    /// only items that got 429/5xx. With `refresh`, the last request uses `refresh=wait_for`.
    /// - Throws: ``IngestError`` `index_rejected` naming the first permanent item error.
    func write(index: String, documents: [IndexDocument], refresh: Bool) async throws

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

    /// Gives the lease back, only if `owner` still holds it (a lease taken over after expiry is
    /// left to its new holder).
    func releaseLease(index: String, source: String, owner: LeaseOwner) async throws
}
