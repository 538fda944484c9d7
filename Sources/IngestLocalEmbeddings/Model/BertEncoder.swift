import CEmbedKernels
import IngestKit
import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A BERT encoder (embeddings, `layers` × [self-attention, feed-forward], post-layer-norm) with
/// mean pooling and L2 normalisation: what sentence-transformers runs for all-MiniLM-L6-v2.
///
/// Matrix products run on our own packed kernels (CEmbedKernels, ``KernelPath``: AVX-512,
/// AVX2+FMA or portable, chosen by cpuid); the element-wise steps too, vectorised per path. Batches are
/// packed, not padded: the texts of a batch are laid end to end as rows of one matrix, so the
/// projections and the feed-forward network run as a few large products and no work is spent
/// on [PAD]; attention, the only step that mixes rows, runs per text on its own rows. That gives
/// the same result as HF's padded batch with an attention mask (masked keys weigh exactly zero).
///
/// Threads: forward passes run on the encoder's own ``ComputeThreads`` (EMBEDDING_THREADS of
/// them), never on the caller's thread, so an async caller on Swift's cooperative pool only
/// suspends. A batch of several texts is split into groups of about equal token counts that run
/// the whole encoder side by side, one per thread (texts never interact, so the groups need no
/// synchronisation until the end); a single text spreads each product's output columns, the
/// attention heads and the element-wise steps over the threads instead.
///
/// `@unchecked Sendable`: the weights are read-only views into the mapped file, which this
/// object keeps alive; each forward pass allocates its own scratch memory.
package final class BertEncoder: @unchecked Sendable {
    package let configuration: BertConfiguration
    /// Threads for one forward pass (EMBEDDING_THREADS).
    package let threads: Int
    private let file: SafeTensorsFile
    private let weights: Weights
    private let pool: ComputeThreads
    private let kernels: Kernels
    private let threadNames = Mutex<Set<String>>([])

    /// The kernel path the matrix products were asked to run (``KernelPath/best`` by default).
    package var kernel: KernelPath { kernels.path }
    /// The kernel paths that actually ran so far (empty before the first forward pass).
    package var kernelsRun: [KernelPath] { kernels.pathsRun }
    /// The names of the threads forward passes ran on so far (`ingest-embed-<i>`).
    package var forwardPassThreads: Set<String> { threadNames.withLock { $0 } }

    struct Linear {
        /// The weight (`[out, in]`, row-major, as torch stores `nn.Linear.weight`) packed into the
        /// kernel's panels once at load (``Kernels/pack(_:outputs:inputs:)``).
        var packed: UnsafePointer<Float>
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

    /// Maps the weights of `file`, checking every tensor's shape against `configuration`, and
    /// starts `threads` compute threads. `kernel` is for tests and benchmarks: the default is the
    /// fastest path the CPU has.
    /// - Throws: ``IngestError`` `configuration` when a tensor is missing or mis-shaped, or the
    ///   CPU cannot run `kernel`.
    package init(configuration c: BertConfiguration, file: SafeTensorsFile, threads: Int = 1, kernel: KernelPath = .best) throws {
        guard kernel.isSupported else {
            let lacks = kernel.missing().map { "it lacks \($0); " } ?? ""
            throw IngestError(.configuration, "this CPU cannot run the \(kernel) kernels of the local embedder (\(lacks)it runs: \(KernelPath.supported.map(\.description).joined(separator: ", ")))")
        }
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
        let kernels = Kernels(path: kernel)
        func linear(_ name: String, inputs: Int, outputs: Int) throws -> Linear {
            let weight = try file.floats(prefix + name + ".weight", shape: [outputs, inputs])
            guard let base = weight.baseAddress else {
                throw IngestError(.configuration, "the tensor \(prefix + name).weight in \(file.path) is empty; config.json has a zero size")
            }
            let packed = kernels.pack(base, outputs: outputs, inputs: inputs)
            // Only the packed copy is read from now on: let the mapped original leave the RSS.
            file.dropPages(of: weight)
            return Linear(packed: packed, bias: try tensor(name + ".bias", [outputs]), inputs: inputs, outputs: outputs)
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
        self.kernels = kernels
        self.pool = ComputeThreads(count: self.threads)
    }

    /// The length of the vectors `encode` returns.
    package var dimension: Int { configuration.hiddenSize }

    /// Mean-pooled, L2-normalised embeddings of already tokenised texts, one per sequence, in order.
    /// Each sequence holds [CLS] … [SEP] and at most `maxSequenceLength` ids. The forward pass runs
    /// on the encoder's threads; the caller suspends until it is done (it is not interrupted by
    /// cancellation: callers bound a pass by the batch size and check between batches).
    /// - Throws: ``IngestError`` `embedRejected` for an empty, over-long or out-of-vocabulary
    ///   sequence; `embedFailed` when the pass runs out of memory (the encoder stays usable).
    package func encode(_ sequences: [[Int32]]) async throws -> [[Float]] {
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
        let failures = Self.allocationFailures
        return try await pool.run {
            ek_test_fail_allocations(Int32(failures))
            return try self.forwardBatch(sequences)
        }
    }

    /// Tests only: the products of the forward passes started in this task scope find their
    /// scratch memory exhausted this many times (on thread 0 of the pool), to prove that running
    /// out of memory is an error and not a crash.
    @TaskLocal package static var allocationFailures = 0

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

    /// One batch, on thread 0 of the pool: groups side by side, or one text over all threads.
    private func forwardBatch(_ sequences: [[Int32]]) throws(IngestError) -> [[Float]] {
        let groups = Self.partition(sequences, into: min(threads, sequences.count))
        guard groups.count > 1 else { return try forward(sequences, spreadOver: threads > 1 ? pool : nil) }
        // Each thread writes only its own slot, and all are joined before the buffer is read.
        nonisolated(unsafe) let results = UnsafeMutableBufferPointer<[[Float]]>.allocate(capacity: groups.count)
        _ = results.initialize(from: repeatElement([], count: groups.count))
        defer { results.deinitialize().deallocate() }
        try pool.parallel(groups.count) { (g) throws(IngestError) in results[g] = try self.forward(groups[g], spreadOver: nil) }
        return results.flatMap { $0 }
    }

    /// One forward pass over `sequences` on the calling thread, its steps spread over `pool`'s
    /// threads when given.
    private func forward(_ sequences: [[Int32]], spreadOver pool: ComputeThreads?) throws(IngestError) -> [[Float]] {
        let name = ComputeThreads.currentThreadName()
        threadNames.withLock { _ = $0.insert(name) }
        let c = configuration
        let h = c.hiddenSize
        let rows = sequences.reduce(0) { $0 + $1.count }
        let longest = sequences.map(\.count).max() ?? 1
        let scratch = try Scratch(rows: rows, hidden: h, intermediate: c.intermediateSize, longest: longest, heads: c.attentionHeads)
        defer { scratch.release() }

        embed(sequences, into: scratch.x)
        for layer in weights.layers {
            try attention(layer, sequences, scratch, pool)
            feedForward(layer, rows: rows, scratch, pool)
        }
        return meanPool(sequences, scratch.x)
    }

    /// Calls `body` on `0..<count` cut into one range per thread of `pool` (range bounds multiples
    /// of `multiple`), or once on the whole range when `pool` is nil.
    private func split<E: Error>(_ count: Int, multiple: Int = 1, _ pool: ComputeThreads?, _ body: (Range<Int>) throws(E) -> Void) throws(E) {
        guard let pool, pool.count > 1, count > multiple else {
            try body(0..<count)
            return
        }
        let chunk = ((count + pool.count - 1) / pool.count + multiple - 1) / multiple * multiple
        let parts = (count + chunk - 1) / chunk
        try pool.parallel(parts) { (p) throws(E) in try body(p * chunk ..< min(count, (p + 1) * chunk)) }
    }

    /// out = x · Wᵀ + b, the output columns spread over `pool`.
    private func linear(_ x: UnsafePointer<Float>, rows: Int, _ layer: Linear, into out: UnsafeMutablePointer<Float>, _ pool: ComputeThreads?) {
        split(layer.outputs, multiple: kernels.panelWidth, pool) { columns in
            kernels.linear(x, rows: rows, layer, columns: columns, into: out)
        }
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
        kernels.addLayerNorm(nil, into: x, rows: row, width: h, weights.embeddingNorm, epsilon: configuration.layerNormEpsilon)
    }

    /// x = LayerNorm(x + Attention(x) · Woᵀ + bo), attention per text and head on its own rows.
    private func attention(_ layer: Layer, _ sequences: [[Int32]], _ s: Scratch, _ pool: ComputeThreads?) throws(IngestError) {
        let c = configuration
        let h = c.hiddenSize
        let headSize = h / c.attentionHeads
        let rows = s.rows
        linear(s.x, rows: rows, layer.query, into: s.q, pool)
        linear(s.x, rows: rows, layer.key, into: s.k, pool)
        linear(s.x, rows: rows, layer.value, into: s.v, pool)
        let scale = 1 / Float(headSize).squareRoot()
        var start = 0
        for ids in sequences {
            let n = ids.count
            let first = start
            try split(c.attentionHeads, pool) { (heads) throws(IngestError) in
                for head in heads {
                    let offset = first * h + head * headSize
                    let scores = s.scores + head * s.longest * s.longest
                    // scores[n, n] = Q_head · K_headᵀ / √d
                    try kernels.gemm(bTransposed: true, m: n, n: n, k: headSize, alpha: scale,
                                     s.q + offset, lda: h, s.k + offset, ldb: h, accumulate: false, scores, ldc: n)
                    kernels.softmaxRows(scores, rows: n, width: n)
                    // context[n, d] = scores · V_head, written into this head's columns.
                    try kernels.gemm(bTransposed: false, m: n, n: headSize, k: n,
                                     scores, lda: n, s.v + offset, ldb: h, accumulate: false, s.context + offset, ldc: h)
                }
            }
            start += n
        }
        linear(s.context, rows: rows, layer.attentionOutput, into: s.q, pool)
        split(rows, pool) { part in
            kernels.addLayerNorm(s.q + part.lowerBound * h, into: s.x + part.lowerBound * h, rows: part.count, width: h, layer.attentionNorm, epsilon: c.layerNormEpsilon)
        }
    }

    /// x = LayerNorm(x + GELU(x · Wiᵀ + bi) · Woᵀ + bo).
    private func feedForward(_ layer: Layer, rows: Int, _ s: Scratch, _ pool: ComputeThreads?) {
        let c = configuration
        let h = c.hiddenSize, i = c.intermediateSize
        linear(s.x, rows: rows, layer.intermediate, into: s.intermediate, pool)
        split(rows, pool) { part in
            kernels.gelu(s.intermediate + part.lowerBound * i, count: part.count * i)
        }
        linear(s.intermediate, rows: rows, layer.output, into: s.q, pool)
        split(rows, pool) { part in
            kernels.addLayerNorm(s.q + part.lowerBound * h, into: s.x + part.lowerBound * h, rows: part.count, width: h, layer.outputNorm, epsilon: c.layerNormEpsilon)
        }
    }

    /// Mean over each text's rows (all real tokens: nothing is padded), then L2 normalisation
    /// (norm clamped at 1e-12, as `torch.nn.functional.normalize`).
    private func meanPool(_ sequences: [[Int32]], _ x: UnsafeMutablePointer<Float>) -> [[Float]] {
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

    /// Scratch matrices for one batch, freed by the caller when the batch is done. Allocated with
    /// `malloc`, not `UnsafeMutablePointer.allocate`, so running out of memory is an error the
    /// caller sees rather than a trap (the largest, `intermediate`, grows with EMBEDDING_BATCH_SIZE).
    private struct Scratch {
        let rows: Int
        let longest: Int
        let x, q, k, v, context, intermediate: UnsafeMutablePointer<Float>
        /// One n×n block per head, so heads can run side by side.
        let scores: UnsafeMutablePointer<Float>

        init(rows: Int, hidden: Int, intermediate: Int, longest: Int, heads: Int) throws(IngestError) {
            self.rows = rows
            self.longest = longest
            let sizes = [rows * hidden, rows * hidden, rows * hidden, rows * hidden, rows * hidden, rows * intermediate, heads * longest * longest]
            var blocks: [UnsafeMutablePointer<Float>] = []
            for floats in sizes {
                guard let block = malloc(max(1, floats) * MemoryLayout<Float>.size) else {
                    blocks.forEach { free($0) }
                    let total = sizes.reduce(0, +) * MemoryLayout<Float>.size
                    throw IngestError(.embedFailed, "the local embedder ran out of memory: a batch of \(rows) tokens needs \(total >> 20) MiB of scratch, which could not be allocated; lower EMBEDDING_BATCH_SIZE, or give the process more memory")
                }
                blocks.append(block.assumingMemoryBound(to: Float.self))
            }
            (x, q, k, v, context, self.intermediate, scores) = (blocks[0], blocks[1], blocks[2], blocks[3], blocks[4], blocks[5], blocks[6])
        }

        func release() {
            for p in [x, q, k, v, context, intermediate, scores] { free(p) }
        }
    }
}
