import AsyncHTTPClient
import Foundation
import IngestDocling
import IngestEmbeddings
import IngestKit
import IngestLocalEmbeddings
import IngestOpenSearch
import IngestTokenizer
import Logging
import NIOCore

/// The real pipeline wired from the environment: one HTTP client for Docling, the embeddings
/// API and URL downloads, and one for OpenSearch (it has its own TLS trust: OPENSEARCH_CA_CERT).
/// Call ``shutdown()`` when done: AsyncHTTPClient requires it.
package final class Runtime: Sendable {
    package let pipeline: IngestPipeline
    /// `ingest search`: the pipeline's embedder and index, queried as OpenRAG queries them.
    package let search: IndexSearch
    private let clients: [HTTPClient]

    /// Which embedder is active, for `ingest doctor` and logs.
    package let embedderSummary: String

    /// Reads every setting through `configuration` (flags over environment): the pipeline's
    /// (``PipelineSettings``), DOCLING_*, OPENAI_*, EMBEDDING_* and OPENSEARCH_* (README, "Configuration").
    /// `EMBEDDING_MODEL_PATH` (or `--embedding-model-path`) selects the in-process embedder.
    /// - Parameter forWorker: the worker's rules (allowed roots) rather than the CLI's.
    /// - Throws: ``IngestError`` `configuration` naming the variable or flag at fault.
    package convenience init(configuration env: Environment, forWorker: Bool, logger: Logger) throws {
        try self.init(environment: env, settings: try PipelineSettings.fromEnvironment(env, forWorker: forWorker), logger: logger)
    }

    /// As ``init(configuration:forWorker:logger:)`` with the pipeline settings given.
    package init(environment env: Environment, settings: PipelineSettings, logger: Logger) throws {
        let docling = try Self.doclingConfiguration(env)
        let embeddings = try Self.embeddingsConfiguration(env, model: settings.embeddingModel)
        let local = try LocalEmbeddingConfiguration.select(environment: env, cliModelPath: nil)
        let opensearch = try OpenSearchConfiguration(environment: env)
        // The swap is one OpenSearch request: its timeout is what a lease must have left before it.
        var settings = settings
        settings.leaseSwapTimeout = opensearch.requestTimeout
        try settings.validateLeaseTiming()
        let unconfigured = local == nil && !LocalEmbeddingConfiguration.apiConfigured(env)
        // The budget against the model's window, before any client exists (a throw after that
        // would leave HTTP clients to be shut down).
        let model = local != nil ? LocalEmbeddingConfiguration.modelName : embeddings.model
        if let known = KnownEmbeddingModel.named(model) {
            if let error = known.windowError(maxTokens: settings.maxTokens, setting: "--max-tokens / INGEST_MAX_TOKENS") { throw error }
        } else if !unconfigured {
            logger.warning("the input window of EMBEDDING_MODEL=\(model) is not known to ingest: chunks are cut at \(settings.maxTokens) MiniLM tokens (INGEST_MAX_TOKENS); if the model reads fewer, lower it")
        }

        var config = HTTPClient.Configuration()
        let limits = settings.http
        config.timeout = .init(connect: limits.connectTimeout.timeAmount, read: limits.readTimeout.timeAmount)
        config.redirectConfiguration = .disallow
        config.connectionPool = .init(idleTimeout: limits.idleTimeout.timeAmount, concurrentHTTP1ConnectionsPerHostSoftLimit: limits.connectionsPerHost(concurrency: settings.concurrency))
        // Fail fast on a refused connection: our RetryPolicy decides about retries, with back-off.
        config.connectionPool.retryConnectionEstablishment = false
        let general = HTTPClient(eventLoopGroupProvider: .singleton, configuration: config)
        let search: HTTPClient
        do {
            search = try OpenSearchIndex.makeHTTPClient(configuration: opensearch)
        } catch {
            try? general.syncShutdown()
            throw error
        }
        clients = [general, search]
        let index: OpenSearchIndex
        do {
            index = try OpenSearchIndex(configuration: opensearch, transport: AsyncHTTPTransport(client: search))
        } catch {
            // AsyncHTTPClient requires a shutdown before a client goes away, also on this path.
            try? general.syncShutdown()
            try? search.syncShutdown()
            throw error
        }

        let transport = AsyncHTTPTransport(client: general)
        let tokenizer = WordPieceTokenizer.miniLM
        // The in-process model when selected (a path given, or no remote service configured and
        // the model found in a default location); it loads lazily, on the first embedding.
        let embedder: any Embedder
        let fix: String
        if unconfigured {
            // Nothing configured: not api.openai.com without a key (every call would fail with
            // 401, or with "does not resolve" offline). Commands that embed say so; the others
            // (--preview, chunk, a worker's health) work.
            embedder = UnconfiguredEmbedder(model: settings.embeddingModel)
            embedderSummary = "none configured (set OPENAI_BASE_URL, or install all-MiniLM-L6-v2 for the in-process embedder)"
            fix = ""
        } else if let local {
            embedder = LocalEmbedder(configuration: local)
            embedderSummary = local.summary
            fix = "check the model folder (EMBEDDING_MODEL_PATH or --embedding-model-path)"
        } else {
            embedder = OpenAIEmbedder(configuration: embeddings, transport: transport, tokenCounter: { tokenizer.tokenCount($0) })
            embedderSummary = "OpenAI-compatible \(embeddings.model) at \(redactingCredentials(embeddings.baseURL))"
            fix = "check OPENAI_BASE_URL (or unset it and OPENAI_API_KEY to embed in process with all-MiniLM-L6-v2, see the README's \"Local embeddings\")"
        }
        let embeddingsEndpoint = local.map { "in-process (\($0.modelPath))" } ?? redactingCredentials(embeddings.baseURL)
        pipeline = IngestPipeline(
            converter: DoclingServeClient(configuration: docling, transport: transport),
            embedder: embedder,
            index: index,
            tokenizer: tokenizer,
            settings: settings,
            fetcher: URLFetcher(connector: PinnedHTTPConnector()),
            endpoints: .init(
                docling: redactingCredentials(docling.baseURL),
                embeddings: embeddingsEndpoint,
                opensearch: redactingCredentials((try? opensearch.baseURL()) ?? opensearch.host)),
            embedderProbe: EmbedderProbe(model: embedder.model, requestedDimensions: local == nil ? embeddings.dimensions : nil, endpoint: embeddingsEndpoint, fix: fix) { [embedder] in
                try await embedder.preflightDimension()
            },
            logger: logger)
        self.search = IndexSearch(index: index, embedder: embedder, space: pipeline.space)
    }

    /// Closes every connection. Safe to call once; later calls are ignored by AsyncHTTPClient's own state.
    package func shutdown() async {
        for client in clients { try? await client.shutdown() }
    }

    static func doclingConfiguration(_ env: Environment) throws -> DoclingConfiguration {
        let timeout = try env.seconds("DOCLING_TIMEOUT_SECONDS", default: .seconds(600))
        var c = DoclingConfiguration(
            baseURL: try env.httpURL("DOCLING_SERVE_URL", default: "http://localhost:5001"),
            apiKey: env.string("DOCLING_SERVE_API_KEY", isSecret: true),
            documentTimeout: timeout,
            maxInFlight: try env.int("DOCLING_MAX_IN_FLIGHT", default: 4, range: 1...256))
        c.maxResubmits = try env.int("DOCLING_MAX_RESUBMITS", default: c.maxResubmits, range: 0...20)
        return c
    }

    static func embeddingsConfiguration(_ env: Environment, model: String) throws -> EmbeddingsConfiguration {
        let c = EmbeddingsConfiguration(
            baseURL: try env.httpURL("OPENAI_BASE_URL", default: "https://api.openai.com/v1"),
            apiKey: env.string("OPENAI_API_KEY", isSecret: true),
            model: model,
            maxBatchInputs: try env.int("EMBEDDING_BATCH_SIZE", default: 64, range: 1...2048),
            concurrency: try env.int("EMBEDDING_CONCURRENCY", default: 4, range: 1...256),
            requestTimeout: try env.seconds("EMBEDDING_TIMEOUT_SECONDS", default: .seconds(60)),
            // Same bounds as `ingest schema --dimension`; a typo is an error, never "unset".
            dimensions: try env.int("EMBEDDING_DIMENSIONS", range: 1...16_000))
        return c
    }
}
