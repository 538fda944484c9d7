import IngestKit

/// Everything ``OpenAIEmbedder`` needs: endpoint, model, batching and concurrency limits,
/// timeouts and retries. Built by the lead's configuration layer from environment variables.
package struct EmbeddingsConfiguration: Sendable {
    /// The OpenAI-compatible API root, `/embeddings` is appended (OPENAI_BASE_URL, default
    /// https://api.openai.com/v1).
    package var baseURL: String
    /// Sent as `Authorization: Bearer …` when set (OPENAI_API_KEY); local servers need none. Never logged.
    package var apiKey: String?
    /// The model name sent and recorded (EMBEDDING_MODEL, default text-embedding-3-small).
    package var model: String
    /// Most inputs in one request (EMBEDDING_BATCH_SIZE, default 64); providers cap it (OpenAI: 2048).
    package var maxBatchInputs: Int
    /// Most tokens in one request, estimated (default 8,000), so one request stays well under
    /// providers' per-request token limits.
    package var maxBatchTokens: Int
    /// Requests in flight per embedder, across all callers (EMBEDDING_CONCURRENCY, default 4).
    package var concurrency: Int
    /// Deadline of one request (EMBEDDING_TIMEOUT_SECONDS, default 60 s).
    package var requestTimeout: Duration
    /// Retries on 429, 5xx and connection errors, bounded in attempts and total time (default 5 min).
    package var retry: RetryPolicy
    /// Output dimensions, for models that can shorten their vectors (text-embedding-3-*);
    /// sent only when set.
    package var dimensions: Int?

    /// Defaults are the documented ones (OpenAI's endpoint and text-embedding-3-small).
    package init(
        baseURL: String = "https://api.openai.com/v1",
        apiKey: String? = nil,
        model: String = "text-embedding-3-small",
        maxBatchInputs: Int = 64,
        maxBatchTokens: Int = 8_000,
        concurrency: Int = 4,
        requestTimeout: Duration = .seconds(60),
        retry: RetryPolicy = RetryPolicy(maxAttempts: 8, baseDelay: .milliseconds(500), maxDelay: .seconds(30), maxElapsed: .seconds(300)),
        dimensions: Int? = nil
    ) {
        self.baseURL = baseURL
        self.apiKey = apiKey
        self.model = model
        self.maxBatchInputs = maxBatchInputs
        self.maxBatchTokens = maxBatchTokens
        self.concurrency = concurrency
        self.requestTimeout = requestTimeout
        self.retry = retry
        self.dimensions = dimensions
    }

    /// The embeddings endpoint: `baseURL` + `/embeddings`, without a doubled slash.
    package var embeddingsURL: String {
        var base = baseURL
        while base.hasSuffix("/") { base.removeLast() }
        return base + "/embeddings"
    }
}

extension EmbeddingsConfiguration {
    /// EMBEDDING_PROVIDER: OpenRAG's key of the provider that serves EMBEDDING_MODEL at query
    /// time (`openai`, or for a self-hosted OpenAI-compatible server a LiteLLM key such as
    /// `openai_like` or `hosted_vllm`), lower-cased as OpenRAG records it; nil when unset (the
    /// legacy layout). It applies to either embedder (API or in process): it names where the
    /// vectors are filed, not who computes them. See ``EmbeddingSpace``.
    /// - Throws: ``IngestError`` `configuration` for a value that is not a provider key (OpenRAG
    ///   splits the space id at the first `:`, so a `:` would move part of it into the model).
    package static func provider(_ env: Environment) throws(IngestError) -> String? {
        guard let raw = env.string("EMBEDDING_PROVIDER") else { return nil }
        let key = raw.lowercased()
        let allowed = key.unicodeScalars.allSatisfy { ("a"..."z").contains($0) || ("0"..."9").contains($0) || "_-.".unicodeScalars.contains($0) }
        guard allowed, key.count <= 64 else {
            throw IngestError(.configuration, "EMBEDDING_PROVIDER='\(raw.prefix(80))' is not an OpenRAG provider key: use its lower-case name as OpenRAG's settings spell it (letters, digits, '_', '-', '.'; e.g. openai, openai_like, hosted_vllm), or leave it unset for the legacy layout")
        }
        return key
    }
}
