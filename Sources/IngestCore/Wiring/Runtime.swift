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
    private let clients: [HTTPClient]

    /// Which embedder is active, for `ingest doctor` and logs.
    package let embedderSummary: String

    /// Reads DOCLING_*, OPENAI_*, EMBEDDING_* and OPENSEARCH_* (README, "Configuration").
    /// - Parameter embeddingModelPath: `--embedding-model-path`, which selects the in-process embedder.
    /// - Throws: ``IngestError`` `configuration` naming the variable at fault.
    package init(environment env: Environment, settings: PipelineSettings, logger: Logger, embeddingModelPath: String? = nil) throws {
        let docling = try Self.doclingConfiguration(env)
        let embeddings = try Self.embeddingsConfiguration(env, model: settings.embeddingModel)
        let local = try LocalEmbeddingConfiguration.select(environment: env.values, cliModelPath: embeddingModelPath)
        let opensearch = try OpenSearchConfiguration(environment: env.values)

        var config = HTTPClient.Configuration()
        config.timeout = .init(connect: .seconds(5), read: .seconds(300))
        // Redirects are followed by URLFetcher itself, so the URL guard sees every hop.
        config.redirectConfiguration = .disallow
        config.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: max(16, settings.concurrency * 2))
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

        let transport = AsyncHTTPTransport(client: general)
        let tokenizer = WordPieceTokenizer.miniLM
        // The in-process model when selected (a path given, or no remote service configured and
        // the model found in a default location); it loads lazily, on the first embedding.
        let embedder: any Embedder
        if let local {
            embedder = LocalEmbedder(configuration: local)
            embedderSummary = local.summary
        } else {
            embedder = OpenAIEmbedder(configuration: embeddings, transport: transport, tokenCounter: { tokenizer.tokenCount($0) })
            embedderSummary = "OpenAI-compatible \(embeddings.model) at \(redactingCredentials(embeddings.baseURL))"
        }
        pipeline = IngestPipeline(
            converter: DoclingServeClient(configuration: docling, transport: transport),
            embedder: embedder,
            index: try OpenSearchIndex(configuration: opensearch, transport: AsyncHTTPTransport(client: search)),
            tokenizer: tokenizer,
            settings: settings,
            fetcher: URLFetcher(transport: transport),
            endpoints: .init(
                docling: redactingCredentials(docling.baseURL),
                embeddings: local.map { "in-process (\($0.modelPath))" } ?? redactingCredentials(embeddings.baseURL),
                opensearch: redactingCredentials((try? opensearch.baseURL()) ?? opensearch.host)),
            logger: logger)
    }

    /// Closes every connection. Safe to call once; later calls are ignored by AsyncHTTPClient's own state.
    package func shutdown() async {
        for client in clients { try? await client.shutdown() }
    }

    static func doclingConfiguration(_ env: Environment) throws -> DoclingConfiguration {
        let timeout = try env.seconds("DOCLING_TIMEOUT_SECONDS", default: .seconds(600))
        var c = DoclingConfiguration(
            baseURL: env.string("DOCLING_SERVE_URL", default: "http://localhost:5001"),
            apiKey: env.string("DOCLING_SERVE_API_KEY"),
            documentTimeout: timeout,
            maxInFlight: try env.int("DOCLING_MAX_IN_FLIGHT", default: 4, range: 1...256))
        c.maxResubmits = try env.int("DOCLING_MAX_RESUBMITS", default: c.maxResubmits, range: 0...20)
        try checkURL(c.baseURL, variable: "DOCLING_SERVE_URL")
        return c
    }

    static func embeddingsConfiguration(_ env: Environment, model: String) throws -> EmbeddingsConfiguration {
        let c = EmbeddingsConfiguration(
            baseURL: env.string("OPENAI_BASE_URL", default: "https://api.openai.com/v1"),
            apiKey: env.string("OPENAI_API_KEY"),
            model: model,
            maxBatchInputs: try env.int("EMBEDDING_BATCH_SIZE", default: 64, range: 1...2048),
            concurrency: try env.int("EMBEDDING_CONCURRENCY", default: 4, range: 1...256),
            requestTimeout: try env.seconds("EMBEDDING_TIMEOUT_SECONDS", default: .seconds(60)),
            dimensions: env.string("EMBEDDING_DIMENSIONS").flatMap(Int.init))
        try checkURL(c.baseURL, variable: "OPENAI_BASE_URL")
        return c
    }

    static func checkURL(_ url: String, variable: String) throws {
        guard let parsed = URL(string: url), let scheme = parsed.scheme, ["http", "https"].contains(scheme.lowercased()), parsed.host != nil else {
            throw IngestError(.configuration, "\(variable)=\(redactingCredentials(url)) is not an http(s) URL (e.g. http://localhost:5001)")
        }
    }
}
