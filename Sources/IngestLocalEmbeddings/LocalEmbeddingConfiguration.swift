import Foundation
import IngestKit

/// Settings of the in-process embedder, and the rule that decides whether it is used at all.
package struct LocalEmbeddingConfiguration: Sendable, Equatable {
    /// The model the local embedder runs, recorded as `embedding_model`; the vector field is
    /// `chunk_embedding_all_minilm_l6_v2` (384 dimensions), the same as for an OpenAI-compatible
    /// server serving this model, so vectors from either are interchangeable.
    package static let modelName = "all-MiniLM-L6-v2"
    /// Names of the model EMBEDDING_MODEL may carry while the local embedder is selected.
    package static let acceptedModelNames: Set<String> = ["all-minilm-l6-v2", "sentence-transformers/all-minilm-l6-v2"]
    /// Texts per forward pass when EMBEDDING_BATCH_SIZE is unset (scripts/bench-embed).
    package static let defaultBatchSize = 32
    /// Upper bound of EMBEDDING_BATCH_SIZE for this embedder: 256 texts × 256 tokens need about
    /// 0.9 GB of scratch memory (14 KB per token), and a batch holds the CPU without a cancellation check.
    package static let maxBatchSize = 256

    /// The folder in the Hugging Face layout (config.json, model.safetensors, vocab.txt,
    /// tokenizer_config.json, 1_Pooling/config.json).
    package var modelPath: String
    /// Threads of the embedder's own that run forward passes (EMBEDDING_THREADS, default: the CPUs
    /// this process may use).
    package var threads: Int
    /// Texts per forward pass (EMBEDDING_BATCH_SIZE, default 32).
    package var batchSize: Int

    package init(modelPath: String, threads: Int, batchSize: Int = defaultBatchSize) {
        self.modelPath = modelPath
        self.threads = max(1, threads)
        self.batchSize = min(max(1, batchSize), Self.maxBatchSize)
    }

    /// Where the model is looked for when no path is given and no remote service is configured,
    /// in order: $XDG_CACHE_HOME/ingest/models/all-MiniLM-L6-v2 (or ~/.cache/ingest/models/…),
    /// /usr/local/share/ingest/models/…, /usr/share/ingest/models/…, /opt/ingest/models/… (the
    /// container image).
    package static func defaultLocations(environment: [String: String]) -> [String] {
        defaultLocations(environment: Environment(environment))
    }

    static func defaultLocations(environment env: Environment) -> [String] {
        var locations: [String] = []
        if let cache = env.string("XDG_CACHE_HOME") {
            locations.append(cache + "/ingest/models/" + modelName)
        } else if let home = env.string("HOME") {
            locations.append(home + "/.cache/ingest/models/" + modelName)
        }
        locations += ["/usr/local/share", "/usr/share", "/opt"].map { $0 + "/ingest/models/" + modelName }
        return locations
    }

    /// Decides whether the local embedder is used; nil means "use the OpenAI-compatible service".
    ///
    /// The local embedder is used when `cliModelPath` (`--embedding-model-path`) or
    /// EMBEDDING_MODEL_PATH is set, or when neither OPENAI_BASE_URL nor OPENAI_API_KEY is set and a
    /// model folder (one holding config.json and model.safetensors) is found in
    /// ``defaultLocations(environment:)``. Pure apart from `fileExists`. Read through the
    /// configuration reader, where `--embedding-model-path` arrives as the flag over
    /// EMBEDDING_MODEL_PATH.
    /// - Parameters:
    ///   - processorCount: the default of EMBEDDING_THREADS.
    ///   - fileExists: file lookup, injectable for tests.
    /// - Throws: ``IngestError`` `configuration` for a bad EMBEDDING_THREADS or EMBEDDING_BATCH_SIZE, or an
    ///   EMBEDDING_MODEL other than all-MiniLM-L6-v2 next to an explicit model path.
    package static func select(
        environment env: Environment,
        cliModelPath: String?,
        processorCount: Int = ProcessInfo.processInfo.activeProcessorCount,
        fileExists: (String) -> Bool = { FileManager.default.fileExists(atPath: $0) }
    ) throws -> LocalEmbeddingConfiguration? {
        let requestedModel = env.string("EMBEDDING_MODEL")
        let namesThisModel = requestedModel.map { acceptedModelNames.contains($0.lowercased()) } ?? true
        let path: String
        if let explicit = nonEmpty(cliModelPath) ?? env.string("EMBEDDING_MODEL_PATH") {
            guard namesThisModel else {
                throw IngestError(.configuration, "EMBEDDING_MODEL is \(requestedModel ?? "") but EMBEDDING_MODEL_PATH (or --embedding-model-path) selects the local embedder, which runs \(modelName); unset EMBEDDING_MODEL or set it to \(modelName)")
            }
            path = explicit
        } else {
            // A remote service named in any way, or another model asked for: not ours to take over.
            guard !apiConfigured(env), namesThisModel,
                  let found = defaultLocations(environment: env).first(where: {
                      fileExists($0 + "/config.json") && fileExists($0 + "/model.safetensors")
                  })
            else { return nil }
            path = found
        }
        let threads = try env.int("EMBEDDING_THREADS", default: max(1, processorCount), range: 1...256)
        let batchSize = try env.int("EMBEDDING_BATCH_SIZE", default: defaultBatchSize, range: 1...maxBatchSize)
        return LocalEmbeddingConfiguration(modelPath: path, threads: threads, batchSize: batchSize)
    }

    /// Whether an embeddings API is named (OPENAI_BASE_URL or OPENAI_API_KEY set): the README's
    /// selection rule, read here and by the wiring that reports "no embedder configured".
    package static func apiConfigured(_ env: Environment) -> Bool {
        env.string("OPENAI_BASE_URL") != nil || env.string("OPENAI_API_KEY", isSecret: true) != nil
    }

    /// One line for `ingest doctor` and logs, naming the matrix kernels this CPU gets (so a
    /// machine that falls back to the portable ones shows it).
    package var summary: String {
        "local \(Self.modelName) from \(modelPath) (\(threads) thread\(threads == 1 ? "" : "s"), batches of \(batchSize), \(KernelPath.best) kernels)"
    }

    private static func nonEmpty(_ value: String?) -> String? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        return value
    }
}
