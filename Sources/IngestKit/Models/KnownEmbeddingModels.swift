/// What we know of the embedding models people point `ingest` at: their vector dimension and
/// their input window in tokens. Servers answer with model names of their own (TEI, Ollama,
/// LiteLLM), so a name is never checked against the server; the dimension and the window are,
/// before anything is written: a 384-dimension vector filed under `text-embedding-3-small`, or a
/// 1,024-token chunk for a 256-token model, is refused rather than indexed.
package struct KnownEmbeddingModel: Sendable, Equatable {
    /// The name as users write it in EMBEDDING_MODEL (matched without case, and without an
    /// `org/` prefix such as `sentence-transformers/`).
    package var name: String
    /// Length of the vectors the model returns (before any EMBEDDING_DIMENSIONS shortening).
    package var dimension: Int
    /// Longest input the model reads, in its own tokens; chunks must fit in it.
    package var window: Int
    /// Whether the API can shorten its vectors (OpenAI's `dimensions` parameter).
    package var acceptsDimensions: Bool

    package static let all: [KnownEmbeddingModel] = [
        KnownEmbeddingModel(name: "all-MiniLM-L6-v2", dimension: 384, window: 256, acceptsDimensions: false),
        KnownEmbeddingModel(name: "text-embedding-3-small", dimension: 1536, window: 8191, acceptsDimensions: true),
        KnownEmbeddingModel(name: "text-embedding-3-large", dimension: 3072, window: 8191, acceptsDimensions: true),
        KnownEmbeddingModel(name: "text-embedding-ada-002", dimension: 1536, window: 8191, acceptsDimensions: false),
    ]

    /// The known model `name` names, or nil.
    package static func named(_ name: String) -> KnownEmbeddingModel? {
        let bare = name.split(separator: "/").last.map(String.init) ?? name
        return all.first { $0.name.lowercased() == bare.lowercased() }
    }

    /// The dimension vectors of this model must have, given the EMBEDDING_DIMENSIONS request.
    package func expectedDimension(requested: Int?) -> Int {
        guard let requested, acceptsDimensions, requested < dimension else { return dimension }
        return requested
    }

    /// Nil when `vectorDimension` fits this model (with `requested` shortening); otherwise the
    /// configuration error to stop with, naming EMBEDDING_MODEL and what to do.
    package func dimensionMismatch(vectorDimension: Int, requested: Int?, endpoint: String) -> IngestError? {
        let expected = expectedDimension(requested: requested)
        guard vectorDimension != expected else { return nil }
        return IngestError(
            .configuration,
            "EMBEDDING_MODEL=\(name) makes \(expected)-dimension vectors, but \(endpoint) answered with \(vectorDimension) dimensions: it serves another model. Set EMBEDDING_MODEL to the model that endpoint serves (the vector field is named after it), or point OPENAI_BASE_URL at a server of \(name)"
        )
    }

    /// Nil when a chunk budget of `maxTokens` fits the window; otherwise the error naming
    /// `setting` (e.g. `--max-tokens / INGEST_MAX_TOKENS`, `options.max_tokens`), with `reason`
    /// (`configuration` for a setting, `invalid_input` for a request).
    package func windowError(maxTokens: Int, setting: String, reason: IngestError.Reason = .configuration) -> IngestError? {
        guard maxTokens > window else { return nil }
        return IngestError(
            reason,
            "\(setting) asks for chunks of \(maxTokens) tokens, more than the \(window)-token window of \(name): the model would read only the start of each chunk. Use at most \(window)"
        )
    }
}
