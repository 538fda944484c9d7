import Foundation
import IngestChunking
import IngestKit

/// The deterministic names that make re-ingestion idempotent with no database besides OpenSearch.
///
/// - `document_id`: SHA-256 of the bytes (hex).
/// - `generation`: a hash of `document_id` and every setting that changes the chunks or vectors
///   (chunker version, tokenizer, token budget, Docling options, embedding model) or where the
///   vectors are written (the embedding provider, which names the vector field).
/// - `_id`: `<hash of source>_<generation>_<chunk_index>`: the same file ingested twice with the
///   same settings gets the same ids; two paths with the same bytes are two sources.
package struct DocumentIdentity: Sendable, Equatable {
    package var source: String
    package var documentID: String
    package var generation: String

    /// Hex characters kept from the source hash and the generation hash in `_id`s (64 bits each:
    /// collisions are not a practical concern at index scale, and ids stay short).
    package static let hashPrefix = 16

    package init(source: String, documentID: String, settings: GenerationSettings) {
        self.source = source
        self.documentID = documentID
        self.generation = String(SHA256.hex(settings.fingerprint(documentID: documentID)).prefix(Self.hashPrefix))
    }

    package var sourceHash: String { String(SHA256.hex(source).prefix(Self.hashPrefix)) }

    /// The `_id` of chunk `index` (well under OpenSearch's 512-byte limit).
    package func chunkID(_ index: Int) -> String {
        "\(sourceHash)_\(generation)_\(index)"
    }
}

/// The settings that change chunks or vectors. Anything here changes the generation, so a
/// rerun with a different budget or model replaces the old chunks instead of mixing them.
package struct GenerationSettings: Sendable, Equatable {
    package var chunkerVersion: String
    package var tokenizer: String
    package var maxTokens: Int
    package var doclingOptions: [String: JSONValue]
    package var embeddingModel: String
    /// EMBEDDING_PROVIDER: changing it moves the vectors to another field (and adds or drops
    /// `embedding_space_id`), so it re-indexes; nil (the legacy layout) leaves the fingerprint,
    /// and so every existing generation and `_id`, exactly as before the setting existed.
    package var embeddingProvider: String?

    package init(chunkerVersion: String = DocumentChunker.version, tokenizer: String, maxTokens: Int, doclingOptions: [String: JSONValue], embeddingModel: String, embeddingProvider: String? = nil) {
        self.chunkerVersion = chunkerVersion
        self.tokenizer = tokenizer
        self.maxTokens = maxTokens
        self.doclingOptions = doclingOptions
        self.embeddingModel = embeddingModel
        self.embeddingProvider = embeddingProvider
    }

    /// A canonical string (sorted-key JSON) so that equal settings always hash equally.
    package func fingerprint(documentID: String) -> String {
        var fields: [String: JSONValue] = [
            "document_id": .string(documentID),
            "chunker": .string(chunkerVersion),
            "tokenizer": .string(tokenizer),
            "max_tokens": .int(maxTokens),
            "docling": .object(doclingOptions),
            "embedding_model": .string(embeddingModel),
        ]
        // Only when set: the legacy layout's fingerprint must not change by a single byte.
        if let embeddingProvider { fields["embedding_provider"] = .string(embeddingProvider) }
        return JSONValue.object(fields).jsonString()
    }
}
