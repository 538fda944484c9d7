import COpenBLAS
import Dispatch
import IngestKit
import Synchronization

/// A BERT encoder (embeddings, `layers` × [self-attention, feed-forward], post-layer-norm) with
/// mean pooling and L2 normalisation: what sentence-transformers runs for all-MiniLM-L6-v2.
///
/// Matrix products go to OpenBLAS (`cblas_sgemm`); everything else is plain loops. Batches are
/// packed, not padded: the texts of a batch are laid end to end as rows of one matrix, so the
/// projections and the feed-forward network run as a few large products and no work is spent
/// on [PAD]; attention, the only step that mixes rows, runs per text on its own rows. That gives
/// the same result as HF's padded batch with an attention mask (masked keys weigh exactly zero).
///
/// Threads: a batch of several texts is split into `threads` groups of about equal token counts
/// that run the whole encoder side by side, each with single-threaded OpenBLAS (texts never
/// interact, so the groups need no synchronisation until the end; this scales on a busy machine
/// where OpenBLAS's own threads wait on each other at every product). A single text uses
/// OpenBLAS's threads instead.
///
/// `@unchecked Sendable`: the weights are read-only views into the mapped file, which this
/// object keeps alive; `encode` allocates its own scratch memory. The OpenBLAS thread count is
/// process-wide state, so forward passes run one at a time in the process.
package final class BertEncoder: @unchecked Sendable {
    package let configuration: BertConfiguration
    /// Threads for one forward pass (EMBEDDING_THREADS).
    package let threads: Int
    /// Held for a whole forward pass: it sets OpenBLAS's process-wide thread count.
    private static let forwardPass = Mutex(())
    private let file: SafeTensorsFile
    private let weights: Weights

    struct Linear {
        /// `[out, in]`, row-major, as torch stores `nn.Linear.weight`.
        var weight: UnsafePointer<Float>
        var bias: UnsafePointer<Float>
        var inputs: Int
        var outputs: Int
    }

    struct LayerNorm {
        var gamma: UnsafePointer<Float>
        var beta: UnsafePointer<Float>
    }

    struct Layer {
        var query: Linear, key: Linear, value: Linear, attentionOutput: Linear
        var attentionNorm: LayerNorm
        var intermediate: Linear, output: Linear
        var outputNorm: LayerNorm
    }

    struct Weights {
        var wordEmbeddings: UnsafePointer<Float>
        var positionEmbeddings: UnsafePointer<Float>
        var tokenTypeEmbeddings: UnsafePointer<Float>
        var embeddingNorm: LayerNorm
        var layers: [Layer]
    }

    /// Maps the weights of `file`, checking every tensor's shape against `configuration`.
    /// - Throws: ``IngestError`` `configuration` when a tensor is missing or mis-shaped.
    package init(configuration c: BertConfiguration, file: SafeTensorsFile, threads: Int = 1) throws {
        self.configuration = c
        self.threads = max(1, threads)
        self.file = file
        // Checkpoints saved from `BertForX` carry a "bert." prefix; sentence-transformers' do not.
        let prefix = file.tensors["embeddings.word_embeddings.weight"] == nil && file.tensors["bert.embeddings.word_embeddings.weight"] != nil ? "bert." : ""
        func tensor(_ name: String, _ shape: [Int]) throws -> UnsafePointer<Float> {
            guard let base = try file.floats(prefix + name, shape: shape).baseAddress else {
                throw IngestError(.configuration, "the tensor \(prefix + name) in \(file.path) is empty; config.json has a zero size")
            }
            return base
        }
        func linear(_ name: String, inputs: Int, outputs: Int) throws -> Linear {
            Linear(weight: try tensor(name + ".weight", [outputs, inputs]), bias: try tensor(name + ".bias", [outputs]), inputs: inputs, outputs: outputs)
        }
        func norm(_ name: String) throws -> LayerNorm {
            LayerNorm(gamma: try tensor(name + ".weight", [c.hiddenSize]), beta: try tensor(name + ".bias", [c.hiddenSize]))
        }
        let h = c.hiddenSize, i = c.intermediateSize
        var layers: [Layer] = []
        for l in 0..<c.layers {
            let p = "encoder.layer.\(l)."
            layers.append(Layer(
                query: try linear(p + "attention.self.query", inputs: h, outputs: h),
                key: try linear(p + "attention.self.key", inputs: h, outputs: h),
                value: try linear(p + "attention.self.value", inputs: h, outputs: h),
                attentionOutput: try linear(p + "attention.output.dense", inputs: h, outputs: h),
                attentionNorm: try norm(p + "attention.output.LayerNorm"),
                intermediate: try linear(p + "intermediate.dense", inputs: h, outputs: i),
                output: try linear(p + "output.dense", inputs: i, outputs: h),
                outputNorm: try norm(p + "output.LayerNorm")
            ))
        }
        self.weights = Weights(
            wordEmbeddings: try tensor("embeddings.word_embeddings.weight", [c.vocabularySize, h]),
            positionEmbeddings: try tensor("embeddings.position_embeddings.weight", [c.maxPositions, h]),
            tokenTypeEmbeddings: try tensor("embeddings.token_type_embeddings.weight", [c.typeVocabularySize, h]),
            embeddingNorm: try norm("embeddings.LayerNorm"),
            layers: layers
        )
    }

    /// The length of the vectors `encode` returns.
    package var dimension: Int { configuration.hiddenSize }

    /// Mean-pooled, L2-normalised embeddings of already tokenised texts, one per sequence, in order.
    /// Each sequence holds [CLS] … [SEP] and at most `maxSequenceLength` ids.
    /// - Throws: ``IngestError`` `embedRejected` for an empty, over-long or out-of-vocabulary sequence.
    package func encode(_ sequences: [[Int32]]) throws -> [[Float]] {
        let c = configuration
        for (index, ids) in sequences.enumerated() {
            guard !ids.isEmpty, ids.count <= c.maxSequenceLength else {
                throw IngestError(.embedRejected, "text \(index) has \(ids.count) tokens; the local embedder takes 1 to \(c.maxSequenceLength)", itemIndex: index)
            }
            guard ids.allSatisfy({ $0 >= 0 && Int($0) < c.vocabularySize }) else {
                throw IngestError(.embedRejected, "text \(index) has a token id outside the vocabulary of \(c.vocabularySize)", itemIndex: index)
            }
        }
        guard !sequences.isEmpty else { return [] }
        return Self.forwardPass.withLock { _ in
            let groups = Self.partition(sequences, into: min(threads, sequences.count))
            guard groups.count > 1 else {
                openblas_set_num_threads(Int32(clamping: threads))
                return forward(sequences)
            }
            openblas_set_num_threads(1)
            // Each worker writes only its own slot, and all are joined before the buffer is read.
            nonisolated(unsafe) let results = UnsafeMutableBufferPointer<[[Float]]>.allocate(capacity: groups.count)
            _ = results.initialize(from: repeatElement([], count: groups.count))
            defer { results.deinitialize().deallocate() }
            DispatchQueue.concurrentPerform(iterations: groups.count) { g in
                results[g] = self.forward(groups[g])
            }
            return results.flatMap { $0 }
        }
    }

    /// Splits `sequences` (in order) into at most `parts` runs of about equal token counts.
    package static func partition(_ sequences: [[Int32]], into parts: Int) -> [[[Int32]]] {
        guard parts > 1 else { return [sequences] }
        let total = sequences.reduce(0) { $0 + $1.count }
        var groups: [[[Int32]]] = [[]]
        var done = 0
        for ids in sequences {
            // Start the next group once this one has its share (and a next one is allowed).
            let share = total * groups.count / parts
            if done >= share, !groups[groups.count - 1].isEmpty, groups.count < parts { groups.append([]) }
            groups[groups.count - 1].append(ids)
            done += ids.count
        }
        return groups
    }

    /// One forward pass over `sequences` on the calling thread.
    private func forward(_ sequences: [[Int32]]) -> [[Float]] {
        let c = configuration
        let h = c.hiddenSize
        let rows = sequences.reduce(0) { $0 + $1.count }
        let longest = sequences.map(\.count).max() ?? 1
        let scratch = Scratch(rows: rows, hidden: h, intermediate: c.intermediateSize, longest: longest)
        defer { scratch.free() }

        embed(sequences, into: scratch.x)
        for layer in weights.layers {
            attention(layer, sequences, scratch)
            feedForward(layer, rows: rows, scratch)
        }
        return pool(sequences, scratch.x)
    }

    // MARK: - Stages

    /// x[row] = LayerNorm(word[id] + position[pos] + tokenType[0]).
    private func embed(_ sequences: [[Int32]], into x: UnsafeMutablePointer<Float>) {
        let h = configuration.hiddenSize
        var row = 0
        for ids in sequences {
            for (position, id) in ids.enumerated() {
                let out = x + row * h
                let word = weights.wordEmbeddings + Int(id) * h
                let pos = weights.positionEmbeddings + position * h
                let type = weights.tokenTypeEmbeddings
                for j in 0..<h { out[j] = word[j] + pos[j] + type[j] }
                row += 1
            }
        }
        Kernels.layerNorm(x, rows: row, width: h, weights.embeddingNorm, epsilon: configuration.layerNormEpsilon)
    }

    /// x = LayerNorm(x + Attention(x) · Woᵀ + bo), attention per text and head on its own rows.
    private func attention(_ layer: Layer, _ sequences: [[Int32]], _ s: Scratch) {
        let c = configuration
        let h = c.hiddenSize
        let headSize = h / c.attentionHeads
        let rows = s.rows
        Kernels.linear(s.x, rows: rows, layer.query, into: s.q)
        Kernels.linear(s.x, rows: rows, layer.key, into: s.k)
        Kernels.linear(s.x, rows: rows, layer.value, into: s.v)
        let scale = 1 / Float(headSize).squareRoot()
        var start = 0
        for ids in sequences {
            let n = Int32(ids.count)
            for head in 0..<c.attentionHeads {
                let offset = start * h + head * headSize
                // scores[n, n] = Q_head · K_headᵀ / √d
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, Int32(headSize),
                            scale, s.q + offset, Int32(h), s.k + offset, Int32(h), 0, s.scores, n)
                Kernels.softmaxRows(s.scores, rows: Int(n), width: Int(n))
                // context[n, d] = scores · V_head, written into this head's columns.
                cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, Int32(headSize), n,
                            1, s.scores, n, s.v + offset, Int32(h), 0, s.context + offset, Int32(h))
            }
            start += ids.count
        }
        Kernels.linear(s.context, rows: rows, layer.attentionOutput, into: s.q)
        Kernels.addLayerNorm(s.q, into: s.x, rows: rows, width: h, layer.attentionNorm, epsilon: c.layerNormEpsilon)
    }

    /// x = LayerNorm(x + GELU(x · Wiᵀ + bi) · Woᵀ + bo).
    private func feedForward(_ layer: Layer, rows: Int, _ s: Scratch) {
        let c = configuration
        Kernels.linear(s.x, rows: rows, layer.intermediate, into: s.intermediate)
        Kernels.gelu(s.intermediate, count: rows * c.intermediateSize)
        Kernels.linear(s.intermediate, rows: rows, layer.output, into: s.q)
        Kernels.addLayerNorm(s.q, into: s.x, rows: rows, width: c.hiddenSize, layer.outputNorm, epsilon: c.layerNormEpsilon)
    }

    /// Mean over each text's rows (all real tokens: nothing is padded), then L2 normalisation
    /// (norm clamped at 1e-12, as `torch.nn.functional.normalize`).
    private func pool(_ sequences: [[Int32]], _ x: UnsafeMutablePointer<Float>) -> [[Float]] {
        let h = configuration.hiddenSize
        var start = 0
        return sequences.map { ids in
            var sum = [Double](repeating: 0, count: h)
            for row in start..<(start + ids.count) {
                let r = x + row * h
                for j in 0..<h { sum[j] += Double(r[j]) }
            }
            start += ids.count
            let mean = sum.map { $0 / Double(ids.count) }
            let norm = max(mean.reduce(0) { $0 + $1 * $1 }.squareRoot(), 1e-12)
            return mean.map { Float($0 / norm) }
        }
    }

    /// Scratch matrices for one batch, freed by the caller when the batch is done.
    private struct Scratch {
        let rows: Int
        let x, q, k, v, context, intermediate, scores: UnsafeMutablePointer<Float>

        init(rows: Int, hidden: Int, intermediate: Int, longest: Int) {
            self.rows = rows
            x = .allocate(capacity: rows * hidden)
            q = .allocate(capacity: rows * hidden)
            k = .allocate(capacity: rows * hidden)
            v = .allocate(capacity: rows * hidden)
            context = .allocate(capacity: rows * hidden)
            self.intermediate = .allocate(capacity: rows * intermediate)
            scores = .allocate(capacity: longest * longest)
        }

        func free() {
            for p in [x, q, k, v, context, intermediate, scores] { p.deallocate() }
        }
    }
}
