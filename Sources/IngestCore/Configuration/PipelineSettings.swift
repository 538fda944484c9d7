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

    /// INGEST_LEASE_TTL_SECONDS: how long a per-source lease outlives its last renewal. Holders
    /// renew every TTL/3 while they work, so it bounds only how long a holder that died unseen
    /// (another host or PID namespace, a hung process) blocks the source, not how long a
    /// document may take. 120 s: it must exceed ``leaseSwapTimeout`` + ``leaseClockSkew`` (65 s
    /// by default) for the checks before writing, and a renewal costs two small requests
    /// (a few ms), so renewing every 40 s is cheap. README, "Leases", says why.
    package var leaseTTL: Duration = .seconds(120)
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

    /// INGEST_LEASE_CLOCK_SKEW_SECONDS: how far the hosts' clocks may disagree; the lease's
    /// expiry is a wall-clock time other hosts compare with their own clock.
    package var leaseClockSkew: Duration = .seconds(5)
    /// The swap's own timeout (OPENSEARCH_TIMEOUT_SECONDS, set by ``Runtime``): a write or a
    /// swap goes on only with this plus ``leaseClockSkew`` left on the lease.
    package var leaseSwapTimeout: Duration = .seconds(60)
    /// Bound on one lease release, so a shutdown or a cancelled document never waits on it.
    package var leaseReleaseTimeout: Duration = .seconds(5)

    /// The lease settings as ``LeaseKeeper`` uses them.
    package var leaseTiming: LeaseTiming {
        LeaseTiming(ttl: leaseTTL, writeMargin: leaseSwapTimeout + leaseClockSkew, releaseTimeout: leaseReleaseTimeout)
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
        s.leaseTTL = try env.seconds("INGEST_LEASE_TTL_SECONDS", default: s.leaseTTL, range: 1...604_800)
        s.leaseWait = try env.seconds("INGEST_LEASE_WAIT_SECONDS", default: s.leaseWait, range: 0...604_800)
        s.leaseClockSkew = try env.seconds("INGEST_LEASE_CLOCK_SKEW_SECONDS", default: s.leaseClockSkew, range: 0...3_600)
        if forWorker {
            s.allowedRoots = env.list("INGEST_ALLOWED_ROOTS", separator: ":").map { PathRules.canonical($0) }
        }
        try s.validateIndexName()
        return s
    }

    /// The lease must outlive the margin a write needs, or every document would fail with
    /// `lease_lost` right after taking it.
    /// - Throws: `configuration` naming the three variables.
    package func validateLeaseTiming() throws(IngestError) {
        let margin = leaseSwapTimeout + leaseClockSkew
        guard leaseTTL > margin else {
            throw IngestError(.configuration, "INGEST_LEASE_TTL_SECONDS (\(Int(leaseTTL.seconds)) s) must be longer than OPENSEARCH_TIMEOUT_SECONDS + INGEST_LEASE_CLOCK_SKEW_SECONDS (\(Int(leaseSwapTimeout.seconds)) + \(Int(leaseClockSkew.seconds)) s): a document checks that its lease has that much left before it writes and swaps; raise the TTL or lower those two")
        }
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
