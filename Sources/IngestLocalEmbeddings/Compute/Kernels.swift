import CEmbedKernels
import IngestKit
import Synchronization

/// The arithmetic of one encoder (CEmbedKernels): matrix products and the element-wise steps
/// (softmax, GELU, layer norm), on the kernel path it was built with, recording which paths the
/// products actually ran (a CPU that cannot run the requested one falls back to generic, and
/// that must be visible: `BertEncoder.kernelsRun`).
///
/// Why not Swift loops or libm for the element-wise steps: `expf`/`erff` cost a call per element
/// and do not vectorise, and Swift code is compiled for the baseline ISA (4 lanes); in C each
/// path gets its own copy vectorised for its instruction set (16 lanes with AVX-512).
struct Kernels: Sendable {
    let path: KernelPath
    private let ran: Ran

    private let packed: PackedStorage

    init(path: KernelPath) {
        self.path = path
        self.ran = Ran()
        self.packed = PackedStorage()
    }

    /// `weight` ([outputs, inputs], torch's Linear layout) packed once into this path's panels,
    /// so forward passes never repack it; freed with the last copy of this value.
    func pack(_ weight: UnsafePointer<Float>, outputs: Int, inputs: Int) -> UnsafePointer<Float> {
        let out = UnsafeMutablePointer<Float>.allocate(capacity: ek_packed_size(path.rawValue, Int32(outputs), Int32(inputs)))
        ek_pack(path.rawValue, 1, Int32(outputs), Int32(inputs), weight, Int32(inputs), out)
        packed.keep(out)
        return UnsafePointer(out)
    }

    /// Columns start at multiples of this in a packed matrix (32 or 16).
    var panelWidth: Int { Int(ek_panel_width(path.rawValue)) }

    /// The paths the products have run on so far.
    var pathsRun: [KernelPath] {
        let mask = ran.mask.load(ordering: .relaxed)
        return KernelPath.allCases.filter { mask & (1 << Int($0.rawValue)) != 0 }
    }

    /// C[m, n] = alpha · A[m, k] · B(k, n), added to C when `accumulate` (else C's old contents
    /// are never read), row-major; B(k, n) is `b[n·ldb + k]` when `bTransposed` (torch's Linear
    /// weight), `b[k·ldb + n]` otherwise.
    /// - Throws: ``IngestError`` `embed_failed` when the kernels could not allocate the buffer
    ///   they pack B into (C is untouched): see ``outOfMemory(m:n:k:)``.
    func gemm(bTransposed: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
              _ a: UnsafePointer<Float>, lda: Int, _ b: UnsafePointer<Float>, ldb: Int,
              accumulate: Bool, _ c: UnsafeMutablePointer<Float>, ldc: Int) throws(IngestError) {
        let used = ek_sgemm(path.rawValue, bTransposed ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha,
                            a, Int32(lda), b, Int32(ldb), accumulate, c, Int32(ldc))
        guard used >= 0 else { throw outOfMemory(m: m, n: n, k: k) }
        record(used)
    }

    /// The error of a product whose scratch memory could not be allocated: what failed, how much,
    /// and the settings that bound the memory a forward pass needs.
    func outOfMemory(m: Int, n: Int, k: Int) -> IngestError {
        let bytes = Int(ek_packed_size(path.rawValue, Int32(clamping: n), Int32(clamping: k))) * MemoryLayout<Float>.size
        let size = bytes >= 1 << 20 ? "\(bytes >> 20) MiB" : "\(bytes >> 10) KiB"
        return IngestError(.embedFailed, "the local embedder ran out of memory: \(size) of scratch for a \(m)×\(n)×\(k) matrix product (\(path) kernels) could not be allocated; lower EMBEDDING_BATCH_SIZE or EMBEDDING_THREADS, or give the process more memory")
    }

    /// out[rows, columns] = x[rows, i] · W[columns, i]ᵀ + b[columns]: the output columns
    /// `columns` (starting at a multiple of `panelWidth`) of a linear layer, from its packed weight.
    func linear(_ x: UnsafePointer<Float>, rows: Int, _ layer: BertEncoder.Linear, columns: Range<Int>, into out: UnsafeMutablePointer<Float>) {
        let o = layer.outputs, i = layer.inputs
        guard !columns.isEmpty else { return }
        for r in 0..<rows { (out + r * o + columns.lowerBound).update(from: layer.bias + columns.lowerBound, count: columns.count) }
        // Accumulate onto the bias just copied in; packed products allocate nothing, so cannot fail.
        let used = ek_sgemm_packed(path.rawValue, Int32(rows), Int32(columns.count), Int32(i), 1, x, Int32(i),
                                   layer.packed + columns.lowerBound * i, true, out + columns.lowerBound, Int32(o))
        record(used)
    }

    /// Each row of x[rows, width] becomes softmax(row), in place.
    func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        ek_softmax_rows(path.rawValue, x, Int32(rows), Int32(width))
    }

    /// GELU in its exact form, x · ½(1 + erf(x/√2)), as HF's `gelu` (not the tanh approximation).
    func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        ek_gelu(path.rawValue, x, count)
    }

    /// x = LayerNorm(x + y) row by row (y nil: LayerNorm(x)), the residual connection of each sub-layer.
    func addLayerNorm(_ y: UnsafePointer<Float>?, into x: UnsafeMutablePointer<Float>, rows: Int, width: Int, _ norm: BertEncoder.LayerNorm, epsilon: Float) {
        ek_add_layer_norm(path.rawValue, y, x, Int32(rows), Int32(width), norm.gamma, norm.beta, epsilon)
    }

    private func record(_ used: Int32) {
        let bit = 1 << Int(used)
        if ran.mask.load(ordering: .relaxed) & bit == 0 { ran.mask.bitwiseOr(bit, ordering: .relaxed) }
    }

    private final class Ran: Sendable {
        let mask = Atomic<Int>(0)
    }

    /// Owns the packed weights (addresses kept as integers: raw pointers are not `Sendable`).
    private final class PackedStorage: Sendable {
        private let buffers = Mutex<[Int]>([])

        func keep(_ buffer: UnsafeMutablePointer<Float>) { buffers.withLock { $0.append(Int(bitPattern: buffer)) } }

        deinit {
            buffers.withLock { $0.forEach { UnsafeMutablePointer<Float>(bitPattern: $0)?.deallocate() } }
        }
    }
}
