import IngestKit

/// The embedder when none is configured: neither OPENAI_BASE_URL nor OPENAI_API_KEY is set and no
/// all-MiniLM-L6-v2 folder was found. Every use fails with the one message that says how to
/// configure one, instead of trying api.openai.com without a key.
struct UnconfiguredEmbedder: Embedder {
    let model: String

    static let error = IngestError(
        .configuration,
        "no embedder is configured: set OPENAI_BASE_URL (and OPENAI_API_KEY if the API needs one) to use an embeddings API, or put all-MiniLM-L6-v2 in ~/.cache/ingest/models/all-MiniLM-L6-v2 (or point EMBEDDING_MODEL_PATH at it) to embed in process; scripts/up does the latter, and the README's \"Local embeddings\" shows how"
    )

    func embed(_ texts: [String]) async throws -> [[Float]] { throw Self.error }
    func probeDimension() async throws -> Int { throw Self.error }
}
