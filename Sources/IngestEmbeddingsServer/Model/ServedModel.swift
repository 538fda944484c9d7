import IngestKit
import IngestLocalEmbeddings
import IngestTokenizer

/// The model behind `POST /v1/embeddings`: the seam between the HTTP edge and the in-process
/// embedder, so the router tests run against a fake and need no weights.
package protocol ServedModel: Sendable {
    /// The name `/v1/models` lists and responses carry (all-MiniLM-L6-v2).
    var name: String { get }
    /// Other names a request's `model` may use for it (matched case-insensitively).
    var aliases: Set<String> { get }
    /// The length of the vectors (384).
    var dimension: Int { get }
    /// The longest sequence the model takes, [CLS] and [SEP] included (256).
    var maxTokens: Int { get }
    /// Token ids are 0 ..< this.
    var vocabularySize: Int { get }
    /// The id of [CLS], which starts every sequence.
    var classifierID: Int32 { get }
    /// The id of [SEP], which ends every sequence.
    var separatorID: Int32 { get }
    /// The ids of `text`, [CLS] … [SEP], not cut to the window.
    func tokenIDs(_ text: String) -> [Int32]
    /// One L2-normalised vector per sequence, in order; each sequence is [CLS] … [SEP] within
    /// the window with ids in the vocabulary (the caller checks).
    func embed(tokenIDs: [[Int32]]) async throws -> [[Float]]
}

/// ``ServedModel`` over the in-process all-MiniLM-L6-v2 (``LocalEmbedder``): the same code,
/// kernels and threads `ingest` embeds chunks with, so query vectors equal ingest vectors.
package struct LocalServedModel: ServedModel {
    private let embedder: LocalEmbedder
    private let model: LocalEmbeddingModel

    /// Loads the model from `configuration` before anything listens: a missing or broken folder
    /// stops the server at start, naming the file and what to do.
    /// - Throws: ``IngestError`` `configuration`.
    package static func load(_ configuration: LocalEmbeddingConfiguration) async throws -> LocalServedModel {
        let embedder = LocalEmbedder(configuration: configuration)
        let model = try await embedder.load()
        // One pass now so the weights are paged in and a broken file fails here, not on a query.
        _ = try await embedder.embed(tokenIDs: [model.tokenIDs("warm up")])
        return LocalServedModel(embedder: embedder, model: model)
    }

    private init(embedder: LocalEmbedder, model: LocalEmbeddingModel) {
        self.embedder = embedder
        self.model = model
    }

    package var name: String { LocalEmbeddingConfiguration.modelName }
    package var aliases: Set<String> { LocalEmbeddingConfiguration.acceptedModelNames }
    package var dimension: Int { model.dimension }
    package var maxTokens: Int { model.maxSequenceLength }
    package var vocabularySize: Int { model.vocabularySize }
    package var classifierID: Int32 { model.tokenizer.vocabulary.classifierID }
    package var separatorID: Int32 { model.tokenizer.vocabulary.separatorID }
    /// One line for the start-up log: folder, threads, batch size, kernels.
    package var summary: String { embedder.configuration.summary }

    package func tokenIDs(_ text: String) -> [Int32] { model.fullTokenIDs(text) }

    package func embed(tokenIDs: [[Int32]]) async throws -> [[Float]] {
        try await embedder.embed(tokenIDs: tokenIDs)
    }
}
