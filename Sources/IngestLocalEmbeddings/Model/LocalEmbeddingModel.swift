import Foundation
import IngestKit
import IngestTokenizer

/// all-MiniLM-L6-v2 (or another BERT model in the same layout) loaded from a Hugging Face folder:
/// the WordPiece tokenizer from vocab.txt and the encoder over the mapped model.safetensors.
/// Immutable once loaded, so one instance serves every caller of the process.
package final class LocalEmbeddingModel: Sendable {
    /// The folder it was loaded from.
    package let folder: String
    package let tokenizer: WordPieceTokenizer
    package let encoder: BertEncoder

    /// The files a model folder must hold (sentence_bert_config.json is optional: 256 tokens).
    package static let requiredFiles = ["config.json", "model.safetensors", "vocab.txt", "tokenizer_config.json", "1_Pooling/config.json"]

    /// Loads the model in `folder`: parses the configs and vocabulary, maps the weights (they are
    /// paged in as the first texts are embedded); forward passes use `threads` threads and the
    /// `kernel` matrix products (the CPU's fastest unless a test or benchmark asks otherwise).
    /// - Throws: ``IngestError`` `configuration`, naming the file and what to do.
    package init(folder: String, threads: Int, kernel: KernelPath = .best) throws {
        self.folder = folder
        for file in Self.requiredFiles where !FileManager.default.fileExists(atPath: folder + "/" + file) {
            throw IngestError(.configuration, "the embedding model folder \(folder) lacks \(file); point EMBEDDING_MODEL_PATH (or --embedding-model-path) at an all-MiniLM-L6-v2 folder in the Hugging Face layout (README: \"Local embeddings\")")
        }
        let configuration = try BertConfiguration.load(folder: folder)
        try Self.checkLowercasing(folder + "/tokenizer_config.json")
        let vocabPath = folder + "/vocab.txt"
        guard let vocabData = FileManager.default.contents(atPath: vocabPath),
              let vocabulary = WordPieceVocabulary(vocabText: String(decoding: vocabData, as: UTF8.self))
        else {
            throw IngestError(.configuration, "\(vocabPath) is unreadable or lacks [UNK], [CLS], [SEP] or ## word pieces; download the model again (scripts/fetch-minilm)")
        }
        guard vocabulary.tokens.count == configuration.vocabularySize else {
            throw IngestError(.configuration, "\(vocabPath) has \(vocabulary.tokens.count) tokens but config.json says vocab_size \(configuration.vocabularySize); the files do not belong together")
        }
        self.tokenizer = WordPieceTokenizer(name: "bert-wordpiece-uncased/all-MiniLM-L6-v2", vocabulary: vocabulary)
        self.encoder = try BertEncoder(configuration: configuration, file: SafeTensorsFile(path: folder + "/model.safetensors"), threads: threads, kernel: kernel)
    }

    /// The length of the vectors.
    package var dimension: Int { encoder.dimension }

    /// The longest sequence the encoder takes, [CLS] and [SEP] included (256 for all-MiniLM-L6-v2).
    package var maxSequenceLength: Int { encoder.configuration.maxSequenceLength }

    /// How many token ids the model knows (ids are 0 ..< this).
    package var vocabularySize: Int { encoder.configuration.vocabularySize }

    /// The ids of `text`, [CLS] … [SEP], not cut: for a caller that refuses an over-long text
    /// instead of truncating it (`ingest serve-embeddings`, as OpenAI does).
    package func fullTokenIDs(_ text: String) -> [Int32] {
        tokenizer.encode(text).map { Int32(truncatingIfNeeded: $0) }
    }

    /// The ids the encoder sees for `text`: [CLS] … [SEP], cut to `maxSequenceLength` the way
    /// sentence-transformers truncates (the first tokens kept, [SEP] last).
    package func tokenIDs(_ text: String) -> [Int32] {
        let limit = encoder.configuration.maxSequenceLength
        var ids = tokenizer.encode(text)
        if ids.count > limit, let separator = ids.last {
            ids.removeSubrange((limit - 1)...)
            ids.append(separator)
        }
        return ids.map { Int32(truncatingIfNeeded: $0) }
    }

    /// Groups the positions of texts with `lengths` tokens into batches of at most `batchSize`,
    /// shortest first, so each batch holds texts of similar length (their attention blocks are
    /// alike; the order of the result is restored by the caller).
    package static func batches(lengths: [Int], batchSize: Int) -> [[Int]] {
        let size = max(1, batchSize)
        let order = lengths.indices.sorted { (lengths[$0], $0) < (lengths[$1], $1) }
        return stride(from: 0, to: order.count, by: size).map { Array(order[$0..<min($0 + size, order.count)]) }
    }

    /// The WordPiece tokenizer here is BERT *uncased*; a cased model would be tokenised wrongly.
    private static func checkLowercasing(_ path: String) throws {
        struct TokenizerConfig: Decodable { var do_lower_case: Bool? }
        guard let data = FileManager.default.contents(atPath: path),
              let config = try? JSONDecoder().decode(TokenizerConfig.self, from: data)
        else {
            throw IngestError(.configuration, "\(path) is unreadable or not JSON; download the model again (scripts/fetch-minilm)")
        }
        if config.do_lower_case == false {
            throw IngestError(.configuration, "\(path) says do_lower_case false; the local embedder's tokenizer is BERT uncased (all-MiniLM-L6-v2)")
        }
    }
}
