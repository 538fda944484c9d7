import Foundation
import IngestKit

/// The shape of a BERT encoder, read from the model folder's `config.json` (plus the
/// sentence-transformers files that say how to pool and where to truncate).
package struct BertConfiguration: Sendable, Equatable {
    package var vocabularySize: Int
    package var hiddenSize: Int
    package var layers: Int
    package var attentionHeads: Int
    package var intermediateSize: Int
    package var maxPositions: Int
    package var typeVocabularySize: Int
    package var layerNormEpsilon: Float
    /// Tokens per text, [CLS] and [SEP] included (sentence_bert_config.json `max_seq_length`,
    /// 256 for all-MiniLM-L6-v2): longer texts are truncated, exactly as sentence-transformers does.
    package var maxSequenceLength: Int

    package init(
        vocabularySize: Int, hiddenSize: Int, layers: Int, attentionHeads: Int, intermediateSize: Int,
        maxPositions: Int, typeVocabularySize: Int, layerNormEpsilon: Float, maxSequenceLength: Int
    ) {
        self.vocabularySize = vocabularySize
        self.hiddenSize = hiddenSize
        self.layers = layers
        self.attentionHeads = attentionHeads
        self.intermediateSize = intermediateSize
        self.maxPositions = maxPositions
        self.typeVocabularySize = typeVocabularySize
        self.layerNormEpsilon = layerNormEpsilon
        self.maxSequenceLength = maxSequenceLength
    }

    /// The truncation length when sentence_bert_config.json is absent (all-MiniLM-L6-v2's value).
    package static let defaultMaxSequenceLength = 256

    private struct ConfigJSON: Decodable {
        var vocab_size: Int
        var hidden_size: Int
        var num_hidden_layers: Int
        var num_attention_heads: Int
        var intermediate_size: Int
        var max_position_embeddings: Int
        var type_vocab_size: Int?
        var layer_norm_eps: Double?
        var hidden_act: String?
        var position_embedding_type: String?
        var model_type: String?
    }

    private struct PoolingJSON: Decodable {
        var pooling_mode_mean_tokens: Bool?
        var pooling_mode_cls_token: Bool?
        var pooling_mode_max_tokens: Bool?
        var pooling_mode_mean_sqrt_len_tokens: Bool?
    }

    private struct SentenceBertJSON: Decodable {
        var max_seq_length: Int?
    }

    /// Reads and checks `folder`/config.json, 1_Pooling/config.json and (when present)
    /// sentence_bert_config.json. Only what this encoder implements is accepted: absolute
    /// positions, GELU (erf), mean pooling.
    /// - Throws: ``IngestError`` `configuration`, naming the file and what is wrong.
    package static func load(folder: String) throws -> BertConfiguration {
        let configPath = folder + "/config.json"
        let config: ConfigJSON = try decode(configPath)
        if let act = config.hidden_act, act != "gelu" {
            throw IngestError(.configuration, "\(configPath) asks for hidden_act \"\(act)\"; the local embedder implements BERT with \"gelu\" (all-MiniLM-L6-v2)")
        }
        if let type = config.position_embedding_type, type != "absolute" {
            throw IngestError(.configuration, "\(configPath) asks for position_embedding_type \"\(type)\"; the local embedder implements \"absolute\" (all-MiniLM-L6-v2)")
        }
        if let type = config.model_type, type != "bert" {
            throw IngestError(.configuration, "\(configPath) describes a \"\(type)\" model; the local embedder runs BERT models such as all-MiniLM-L6-v2")
        }
        guard config.hidden_size > 0, config.num_attention_heads > 0, config.hidden_size % config.num_attention_heads == 0,
              config.num_hidden_layers > 0, config.intermediate_size > 0, config.vocab_size > 0, config.max_position_embeddings > 0
        else {
            throw IngestError(.configuration, "\(configPath) has inconsistent sizes (hidden_size must be a positive multiple of num_attention_heads); download the model again (scripts/fetch-minilm)")
        }

        let poolingPath = folder + "/1_Pooling/config.json"
        let pooling: PoolingJSON = try decode(poolingPath)
        guard pooling.pooling_mode_mean_tokens == true, pooling.pooling_mode_cls_token != true,
              pooling.pooling_mode_max_tokens != true, pooling.pooling_mode_mean_sqrt_len_tokens != true
        else {
            throw IngestError(.configuration, "\(poolingPath) asks for a pooling other than mean tokens; the local embedder implements mean pooling (all-MiniLM-L6-v2)")
        }

        var maxSequence = defaultMaxSequenceLength
        let sentencePath = folder + "/sentence_bert_config.json"
        if FileManager.default.fileExists(atPath: sentencePath) {
            let sentence: SentenceBertJSON = try decode(sentencePath)
            maxSequence = sentence.max_seq_length ?? maxSequence
        }
        // Two tokens are [CLS] and [SEP]; positions beyond the table do not exist.
        maxSequence = min(max(maxSequence, 2), config.max_position_embeddings)

        return BertConfiguration(
            vocabularySize: config.vocab_size,
            hiddenSize: config.hidden_size,
            layers: config.num_hidden_layers,
            attentionHeads: config.num_attention_heads,
            intermediateSize: config.intermediate_size,
            maxPositions: config.max_position_embeddings,
            typeVocabularySize: max(1, config.type_vocab_size ?? 2),
            layerNormEpsilon: Float(config.layer_norm_eps ?? 1e-12),
            maxSequenceLength: maxSequence
        )
    }

    private static func decode<T: Decodable>(_ path: String) throws -> T {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw IngestError(.configuration, "cannot read \(path); the model folder must hold config.json, model.safetensors, vocab.txt and 1_Pooling/config.json (scripts/fetch-minilm downloads all-MiniLM-L6-v2)")
        }
        do {
            return try JSONDecoder().decode(T.self, from: data)
        } catch {
            throw IngestError(.configuration, "\(path) is not the JSON expected (\(error)); download the model again (scripts/fetch-minilm)")
        }
    }
}
