import IngestKit

/// Every limit and timeout of `ingest serve-embeddings` in one place, read from the environment
/// once at start, so no call site carries a magic number and tests can shrink them.
package struct EmbeddingsServerConfiguration: Sendable, Equatable {
    /// Interface to bind (SERVER_HOST, as `ingest serve`).
    package var host: String
    /// Port to bind (SERVER_PORT, as `ingest serve`).
    package var port: Int
    /// Bodies above this are refused with 413 before they are read in full
    /// (EMBEDDINGS_SERVER_MAX_BODY_BYTES). 2,048 texts of 256 tokens are about 3 MB of JSON.
    package var maxBodyBytes: Int
    /// Inputs one request may carry (EMBEDDINGS_SERVER_MAX_INPUTS); OpenAI's own limit is 2,048.
    package var maxInputs: Int
    /// Requests admitted at once (EMBEDDINGS_SERVER_MAX_CONCURRENT_REQUESTS): each holds its body,
    /// token ids and vectors until it is answered; one more is refused with 429 and
    /// `Retry-After: 1` (OpenAI clients retry that) instead of queueing without bound. Forward
    /// passes themselves run one batch at a time on EMBEDDING_THREADS threads, whatever this is.
    package var maxConcurrentRequests: Int
    /// Deadline of one request, waiting for the model included (EMBEDDINGS_SERVER_REQUEST_TIMEOUT_SECONDS):
    /// past it the request is answered 503 after the batch in progress ends (a forward pass is
    /// not interrupted half-way; EMBEDDING_BATCH_SIZE bounds it).
    package var requestTimeout: Duration
    /// After SIGTERM, how long `/health` says "draining" (503) while requests are still served,
    /// so the Service stops routing here before the server stops accepting
    /// (EMBEDDINGS_SERVER_SHUTDOWN_GRACE_SECONDS).
    package var shutdownGrace: Duration
    /// Idle keep-alive connections are closed after this.
    package var idleTimeout: Duration
    /// When set, requests to `/v1/*` must carry `Authorization: Bearer <this>`
    /// (EMBEDDINGS_SERVER_API_KEY; never logged). `/health` and `/metrics` stay open.
    package var apiKey: String?

    /// The defaults of `ingest serve-embeddings`; tests override single values.
    package init(
        host: String = "0.0.0.0",
        port: Int = 8080,
        maxBodyBytes: Int = 4 * 1024 * 1024,
        maxInputs: Int = 2048,
        maxConcurrentRequests: Int = 32,
        requestTimeout: Duration = .seconds(60),
        shutdownGrace: Duration = .seconds(10),
        idleTimeout: Duration = .seconds(300),
        apiKey: String? = nil
    ) {
        self.host = host
        self.port = port
        self.maxBodyBytes = maxBodyBytes
        self.maxInputs = maxInputs
        self.maxConcurrentRequests = maxConcurrentRequests
        self.requestTimeout = requestTimeout
        self.shutdownGrace = shutdownGrace
        self.idleTimeout = idleTimeout
        self.apiKey = apiKey
    }

    /// Reads SERVER_HOST, SERVER_PORT and the EMBEDDINGS_SERVER_* variables; unset or empty means
    /// the default.
    /// - Throws: ``IngestError`` `configuration` naming the variable when a value is not usable.
    package static func fromEnvironment(_ env: Environment) throws(IngestError) -> EmbeddingsServerConfiguration {
        let longest = 999_999_999.0
        var config = EmbeddingsServerConfiguration()
        if let host = env.string("SERVER_HOST") { config.host = host }
        if let port = try env.int("SERVER_PORT", range: 0...65535) { config.port = port }
        if let bytes = try env.int("EMBEDDINGS_SERVER_MAX_BODY_BYTES", range: 1024...Int.max) { config.maxBodyBytes = bytes }
        if let inputs = try env.int("EMBEDDINGS_SERVER_MAX_INPUTS", range: 1...1_000_000) { config.maxInputs = inputs }
        if let requests = try env.int("EMBEDDINGS_SERVER_MAX_CONCURRENT_REQUESTS", range: 1...100_000) { config.maxConcurrentRequests = requests }
        if let timeout = try env.seconds("EMBEDDINGS_SERVER_REQUEST_TIMEOUT_SECONDS", range: 0...longest, excludingZero: true) { config.requestTimeout = timeout }
        if let grace = try env.seconds("EMBEDDINGS_SERVER_SHUTDOWN_GRACE_SECONDS", range: 0...longest) { config.shutdownGrace = grace }
        config.apiKey = env.raw("EMBEDDINGS_SERVER_API_KEY", isSecret: true)
        return config
    }

    /// For the start-up log line: every limit, and whether a key is required (not the key).
    package var summary: [String: String] {
        [
            "address": "\(host):\(port)",
            "max_body_bytes": "\(maxBodyBytes)",
            "max_inputs": "\(maxInputs)",
            "max_concurrent_requests": "\(maxConcurrentRequests)",
            "request_timeout_seconds": "\(requestTimeout.wholeSeconds)",
            "api_key_required": "\(apiKey != nil)",
        ]
    }
}
