import Foundation
import IngestEmbeddings
import IngestKit

/// What the pipeline itself needs (the clients have their own configuration structs).
/// The same values drive the CLI and the worker, so both produce identical chunks and ids.
package struct PipelineSettings: Sendable {
    /// OPENSEARCH_INDEX / `--index`.
    package var index: String = "documents"
    /// INGEST_MAX_TOKENS / `--max-tokens`: the chunk budget, [CLS]/[SEP] included.
    package var maxTokens: Int = 256
    /// INGEST_CONCURRENCY / `--concurrency`: documents in flight in a batch.
    package var concurrency: Int = 4
    /// DOCLING_CONVERT_OPTIONS, overridden by `--docling-option` (CLI) or `options.docling` (worker).
    package var doclingOptions: [String: JSONValue] = [:]
    /// EMBEDDING_MODEL: recorded verbatim in `embedding_model`; names the vector field.
    package var embeddingModel: String = "text-embedding-3-small"
    /// EMBEDDING_PROVIDER (``EmbeddingsConfiguration/provider(_:)``): nil keeps the legacy
    /// layout; set, chunks carry OpenRAG's `embedding_provider` and `embedding_space_id` and the
    /// vector field is named after the space. Part of the generation.
    package var embeddingProvider: String?
    /// `--owner` / worker input.
    package var owner: String?
    /// INGEST_ALLOWED_ROOTS: when non-nil, local paths must resolve under one of these
    /// directories (the worker); nil means any readable path (the CLI, run by the file's owner).
    package var allowedRoots: [String]?
    /// INGEST_URL_ALLOW_HOSTS: host names allowed even when they resolve to private addresses.
    package var urlAllowHosts: Set<String> = []
    /// INGEST_MAX_FILE_BYTES: larger inputs fail with `too_large` before anything is uploaded.
    package var maxFileBytes: Int = 100 << 20
    /// INGEST_URL_TIMEOUT_SECONDS: bound on downloading one URL.
    package var urlTimeout: Duration = .seconds(120)

    /// INGEST_LEASE_TTL_SECONDS: how long a per-source lease stays valid when its holder never
    /// releases it (a process that hung). Longer than one document may take (convert + embed +
    /// write), or a second process could take the lease over mid-write; a holder known to be dead
    /// (same host, pid gone) is taken over at once anyway.
    package var leaseTTL: Duration = .seconds(900)
    /// INGEST_LEASE_WAIT_SECONDS: how long a document waits for another process to finish the
    /// same source before failing with `lease_timeout`.
    package var leaseWait: Duration = .seconds(600)
    /// The shared HTTP client's limits (Docling, embeddings, URL downloads).
    package var http = HTTPClientLimits()

    /// Timeouts and pool size of the HTTP client the services share, named here rather than
    /// written where the client is made. Not settings: each service's own timeout
    /// (DOCLING_TIMEOUT_SECONDS, EMBEDDING_TIMEOUT_SECONDS, …) bounds its requests in full;
    /// these only end connections that say nothing at all.
    package struct HTTPClientLimits: Sendable, Equatable {
        /// A service that does not accept a connection within this is down; our RetryPolicy
        /// decides about trying again.
        package var connectTimeout: Duration = .seconds(5)
        /// No byte for this long ends a request: longer than any one answer we wait for.
        package var readTimeout: Duration = .seconds(300)
        /// A pooled connection unused for this long is closed.
        package var idleTimeout: Duration = .seconds(60)
        /// Connections per host at least; twice the run's concurrency when that is more, so the
        /// documents in flight and the embedder probe never wait for a connection.
        package var minConnectionsPerHost = 16

        /// Connections per host for `concurrency` documents in flight.
        package func connectionsPerHost(concurrency: Int) -> Int { max(minConnectionsPerHost, concurrency * 2) }
    }

    package init() {}

    /// Reads the pipeline's variables. `forWorker` turns on the allowed-roots rule (none allowed
    /// until INGEST_ALLOWED_ROOTS names some).
    package static func fromEnvironment(_ env: Environment, forWorker: Bool) throws -> PipelineSettings {
        var s = PipelineSettings()
        s.index = env.string("OPENSEARCH_INDEX", default: s.index)
        s.maxTokens = try env.int("INGEST_MAX_TOKENS", default: s.maxTokens, range: TokenBudget.range)
        s.concurrency = try env.int("INGEST_CONCURRENCY", default: s.concurrency, range: 1...256)
        s.doclingOptions = try env.jsonObject("DOCLING_CONVERT_OPTIONS")
        let space = try embeddingSpace(env)
        s.embeddingModel = space.model
        s.embeddingProvider = space.provider
        s.urlAllowHosts = Set(env.list("INGEST_URL_ALLOW_HOSTS", separator: ",").map { $0.lowercased() })
        s.maxFileBytes = try env.int("INGEST_MAX_FILE_BYTES", default: s.maxFileBytes, range: 1...(1 << 40))
        s.urlTimeout = try env.seconds("INGEST_URL_TIMEOUT_SECONDS", default: .seconds(120))
        s.leaseTTL = try env.seconds("INGEST_LEASE_TTL_SECONDS", default: .seconds(900), range: 1...604_800)
        s.leaseWait = try env.seconds("INGEST_LEASE_WAIT_SECONDS", default: .seconds(600), range: 0...604_800)
        if forWorker {
            s.allowedRoots = env.list("INGEST_ALLOWED_ROOTS", separator: ":").map { PathRules.canonical($0) }
        }
        try s.validateIndexName()
        return s
    }

    /// EMBEDDING_MODEL (default text-embedding-3-small) under EMBEDDING_PROVIDER: where the
    /// vectors are filed. Also read alone by `ingest schema`, which builds no pipeline.
    package static func embeddingSpace(_ env: Environment) throws(IngestError) -> EmbeddingSpace {
        EmbeddingSpace(model: env.string("EMBEDDING_MODEL", default: "text-embedding-3-small"), provider: try EmbeddingsConfiguration.provider(env))
    }

    /// OPENSEARCH_INDEX / `--index` under the one index-name rule (``IndexName``).
    package func validateIndexName() throws {
        try IndexName.check(index, setting: "set OPENSEARCH_INDEX or --index", reason: .configuration)
    }
}
