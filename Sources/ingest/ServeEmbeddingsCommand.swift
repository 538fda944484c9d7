import ArgumentParser
import Foundation
import IngestEmbeddingsServer
import IngestKit
import IngestLocalEmbeddings
import Logging

/// `ingest serve-embeddings`: an OpenAI-compatible embeddings API over the in-process
/// all-MiniLM-L6-v2, so a query embedded by OpenRAG or Langflow gets the vector `ingest` gave
/// the chunks. The model is loaded before the server listens; a missing model is exit 2.
struct ServeEmbeddingsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve-embeddings",
        abstract: "Serve the in-process all-MiniLM-L6-v2 as an OpenAI-compatible embeddings API (POST /v1/embeddings on SERVER_HOST:SERVER_PORT)."
    )

    @OptionGroup var embedding: EmbeddingOptions

    @Option(help: "Interface to bind (default: SERVER_HOST, else 0.0.0.0).")
    var host: String?

    @Option(help: "Port to bind (default: SERVER_PORT, else 8080).")
    var port: String?

    func run() async throws {
        var flags = embedding.flags
        if let host { flags.append(Environment.Flag("SERVER_HOST", spelling: "--host", value: host)) }
        if let port { flags.append(Environment.Flag("SERVER_PORT", spelling: "--port", value: port)) }
        let env = Environment(flags: flags)
        let start = try Startup.service(env, label: "ingest.embeddings")
        let logger = start.logger
        let server = try await start.configured { try EmbeddingsServerConfiguration.fromEnvironment(env) }
        let local = try await start.configured { try Self.modelConfiguration(env) }
        let model = try await start.configured("the model did not load") { try await LocalServedModel.load(local) }
        var metadata: Logger.Metadata = ["model": "\(model.summary)"]
        for (key, value) in server.summary { metadata[key] = "\(value)" }
        logger.info("ingest embeddings server starting", metadata: metadata)
        try await runEmbeddingsServer(configuration: server, model: model, logger: logger)
    }

    /// The model folder as the in-process embedder finds it (EMBEDDING_MODEL_PATH or
    /// `--embedding-model-path`, else the default locations), whether or not OPENAI_* is set:
    /// this command serves the local model and never calls an API.
    static func modelConfiguration(_ env: Environment) throws -> LocalEmbeddingConfiguration {
        let explicit = env.string("EMBEDDING_MODEL_PATH")
        let located = explicit ?? LocalEmbeddingConfiguration.defaultLocations(environment: ProcessInfo.processInfo.environment).first {
            FileManager.default.fileExists(atPath: $0 + "/config.json") && FileManager.default.fileExists(atPath: $0 + "/model.safetensors")
        }
        guard let path = located else {
            let places = LocalEmbeddingConfiguration.defaultLocations(environment: ProcessInfo.processInfo.environment).joined(separator: ", ")
            throw IngestError(.configuration, "no all-MiniLM-L6-v2 model folder found (looked in \(places)); set EMBEDDING_MODEL_PATH (or --embedding-model-path) to one, or get it as the README's \"Local embeddings\" says (scripts/fetch-minilm)")
        }
        // The selection rule reads EMBEDDING_THREADS, EMBEDDING_BATCH_SIZE and EMBEDDING_MODEL
        // exactly as `ingest` does; the explicit path makes it pick the local embedder.
        guard let configuration = try LocalEmbeddingConfiguration.select(environment: env, cliModelPath: path) else {
            throw IngestError(.configuration, "the local embedder was not selected for \(path); unset OPENAI_BASE_URL/OPENAI_API_KEY or set EMBEDDING_MODEL_PATH")
        }
        return configuration
    }
}
