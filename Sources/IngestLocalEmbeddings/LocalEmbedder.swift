import IngestKit
import Synchronization

/// ``Embedder`` that runs all-MiniLM-L6-v2 in this process (no service, no network).
///
/// The model is loaded on the first `embed`/`probeDimension`, not at construction, so a CLI or
/// worker that never embeds locally pays nothing. Copies share one loaded model: build one
/// `LocalEmbedder` per process and hand it to every caller. Batches from all callers take turns
/// (one batch already keeps EMBEDDING_THREADS cores busy); waiting is async, so a waiting request
/// holds no thread. Each batch runs on the encoder's own threads (``ComputeThreads``), never on
/// Swift's cooperative pool, so the HTTP server and `/health` keep their threads while it runs;
/// the calling task only suspends. A batch is not interrupted once started, so cancellation is
/// checked between batches and EMBEDDING_BATCH_SIZE bounds how long one batch takes.
package struct LocalEmbedder: Embedder {
    package let configuration: LocalEmbeddingConfiguration
    private let shared: SharedModel

    package var model: String { LocalEmbeddingConfiguration.modelName }

    /// - Parameter kernel: the matrix-product kernels; leave the default (the CPU's fastest)
    ///   except in tests and benchmarks that compare the paths.
    package init(configuration: LocalEmbeddingConfiguration, kernel: KernelPath = .best) {
        self.configuration = configuration
        self.shared = SharedModel(configuration: configuration, kernel: kernel)
    }

    /// Whether the model has been loaded yet (for `ingest doctor` and tests).
    package var isLoaded: Bool { shared.isLoaded }

    /// The loaded encoder, nil before the first `embed` (for the benchmark, `ingest doctor` and
    /// tests: its `kernel`, `kernelsRun` and `forwardPassThreads`).
    package var encoder: BertEncoder? { shared.loadedModel?.encoder }

    package func embed(_ texts: [String]) async throws -> [[Float]] {
        guard !texts.isEmpty else { return [] }
        let model: LocalEmbeddingModel
        do {
            model = try await shared.model()
        } catch is CancellationError {
            throw IngestError(.cancelled, "embedding \(texts.count) texts locally was cancelled")
        }
        return try await embed(tokenIDs: texts.map(model.tokenIDs))
    }

    /// Embeds sequences that are already token ids, each [CLS] … [SEP] and at most
    /// `maxSequenceLength` long (``LocalEmbeddingModel/tokenIDs(_:)`` makes them from text), in
    /// batches of similar length, one batch at a time across all callers. `ingest
    /// serve-embeddings` uses it for OpenAI's token-list input and to check the window itself.
    /// - Throws: ``IngestError`` `embedRejected` (with `itemIndex`) for an empty or over-long
    ///   sequence or an id outside the vocabulary; `cancelled` when cancelled between batches.
    package func embed(tokenIDs ids: [[Int32]]) async throws -> [[Float]] {
        guard !ids.isEmpty else { return [] }
        do {
            let model = try await shared.model()
            var vectors = [[Float]](repeating: [], count: ids.count)
            var done = 0
            for batch in LocalEmbeddingModel.batches(lengths: ids.map(\.count), batchSize: configuration.batchSize) {
                try Task.checkCancellation()
                let sequences = batch.map { ids[$0] }
                let out: [[Float]]
                do {
                    out = try await shared.gate.withPermit { try await model.encoder.encode(sequences) }
                } catch var error as IngestError {
                    error.itemIndex = error.itemIndex.map { batch[$0] }
                    throw error
                }
                for (index, vector) in zip(batch, out) { vectors[index] = vector }
                done += batch.count
                StageProgress.report(.embedding(done: done, total: ids.count))
            }
            return vectors
        } catch is CancellationError {
            throw IngestError(.cancelled, "embedding \(ids.count) texts locally was cancelled")
        }
    }

    /// Loads the model now (a no-op once loaded) and returns it: a server loads it before it
    /// listens, so a missing or broken folder stops it at start rather than on the first request.
    /// - Throws: ``IngestError`` `configuration`, naming the file and what to do.
    package func load() async throws -> LocalEmbeddingModel {
        try await shared.model()
    }

    /// Loads the model if needed and returns its dimension (384 for all-MiniLM-L6-v2), after
    /// embedding one short text so a broken weights file shows up here and not mid-run.
    package func probeDimension() async throws -> Int {
        let vectors = try await embed(["dimension probe"])
        guard let dimension = vectors.first?.count, dimension > 0 else {
            throw IngestError(.embedFailed, "the local embedder (\(configuration.modelPath)) returned an empty vector; download the model again (scripts/fetch-minilm)")
        }
        return dimension
    }

    /// The lazily loaded model and the gate that runs one batch at a time.
    private final class SharedModel: Sendable {
        let configuration: LocalEmbeddingConfiguration
        let kernel: KernelPath
        /// One permit: batches of concurrent callers take turns; also serialises the first load.
        let gate = AsyncLimiter(limit: 1)
        private let loaded = Mutex<LocalEmbeddingModel?>(nil)

        init(configuration: LocalEmbeddingConfiguration, kernel: KernelPath) {
            self.configuration = configuration
            self.kernel = kernel
        }

        var isLoaded: Bool { loaded.withLock { $0 != nil } }
        var loadedModel: LocalEmbeddingModel? { loaded.withLock { $0 } }

        /// The model, loaded by the first caller; a failed load is retried by the next call.
        func model() async throws -> LocalEmbeddingModel {
            if let model = loaded.withLock({ $0 }) { return model }
            return try await gate.withPermit {
                if let model = loaded.withLock({ $0 }) { return model }
                // Parsing the vocabulary and packing 42 MB of weights: off the cooperative pool too.
                let (folder, threads, kernel) = (configuration.modelPath, configuration.threads, kernel)
                let model = try await ComputeThreads.runOnNewThread(name: "ingest-embed-load") {
                    try LocalEmbeddingModel(folder: folder, threads: threads, kernel: kernel)
                }
                loaded.withLock { $0 = model }
                return model
            }
        }
    }
}
