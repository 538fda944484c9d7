import CEmbedKernels
import IngestKit
import IngestLocalEmbeddings
import Testing

/// The matrix-product kernels (issue #16): the path chosen from cpuid is never the portable
/// fallback on a CPU with AVX2, and every path this CPU runs is exact.
@Suite struct KernelPathTests {
    /// A regression in feature detection must not pass silently as "slow but correct".
    @Test func anAVX2CPUNeverTakesTheGenericFallback() async throws {
        if KernelPath.cpuHasAVX2 {
            #expect(KernelPath.best != .generic, "this CPU has AVX2+FMA but the kernels chose the portable fallback")
            #expect(KernelPath.supported.contains(.avx2))
        }
        // The path actually taken by a forward pass of the production embedder (default kernel).
        let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: try ModelFolder.require(), threads: 2, batchSize: 4))
        _ = try await embedder.embed(["which kernel runs this?", "and this one", "a third text", "a fourth"])
        let ran = try #require(embedder.encoder).kernelsRun
        #expect(ran == [KernelPath.best])
        if KernelPath.cpuHasAVX2 {
            #expect(!ran.contains(.generic), "the forward pass ran the generic kernel on an AVX2 CPU")
        }
    }

    /// Each path this CPU can run, through the public embedder: cosine ≥ 0.999 against
    /// sentence-transformers on all 50 reference texts; one text on two threads (columns split)
    /// and a batch on two threads (groups side by side).
    @Test(arguments: KernelPath.supported)
    func everyPathMatchesTheReference(path: KernelPath) async throws {
        let cases = try Reference.load().cases
        for batchSize in [1, 9] {
            let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: try ModelFolder.require(), threads: 2, batchSize: batchSize), kernel: path)
            let vectors = try await embedder.embed(cases.map(\.text))
            #expect(try #require(embedder.encoder).kernelsRun == [path])
            for (c, v) in zip(cases, vectors) {
                let similarity = cosine(v, c.embedding)
                #expect(similarity >= 0.999, "\(path), batch \(batchSize): cosine \(similarity) for text: \(c.text.prefix(60))")
            }
        }
    }

    /// The message names what the CPU lacks (e.g. "avx512f"), so the operator knows why.
    @Test func anUnsupportedPathIsAConfigurationError() async throws {
        guard let missing = KernelPath.allCases.first(where: { !$0.isSupported }) else { return }
        let embedder = LocalEmbedder(configuration: LocalEmbeddingConfiguration(modelPath: try ModelFolder.require(), threads: 1), kernel: missing)
        let error = await #expect(throws: IngestError.self) { try await embedder.embed(["x"]) }
        let lacks = try #require(missing.missing())
        #expect(error?.message.contains("it lacks \(lacks)") == true, "\(error?.message ?? "")")
    }

    /// The products against a double-precision reference, on shapes with edge tiles in both
    /// directions, more than one K block (256), an empty K and both layouts of B, for every path;
    /// without `accumulate` C starts as NaN, which must not leak into the result (the header's
    /// promise that C is then never read).
    @Test(arguments: KernelPath.supported)
    func productsMatchAReference(path: KernelPath) {
        for (m, n, k) in [(1, 1, 1), (13, 33, 7), (25, 70, 300), (12, 32, 256), (7, 384, 384), (5, 9, 0)] {
            for transposed in [true, false] {
                for accumulate in [false, true] {
                    let alpha: Float = 0.5
                    let a = (0..<(m * k)).map { Float(($0 * 7919) % 201) / 100 - 1 }
                    let b = (0..<(n * k)).map { Float(($0 * 104_729) % 199) / 100 - 1 }
                    let c0 = (0..<(m * n)).map { accumulate ? Float($0 % 13) / 10 : .nan }
                    var c = c0
                    let ldb = transposed ? max(k, 1) : n
                    let used = ek_sgemm(path.rawValue, transposed ? 1 : 0, Int32(m), Int32(n), Int32(k), alpha, a, Int32(max(k, 1)), b, Int32(ldb), accumulate, &c, Int32(n))
                    #expect(used == path.rawValue)
                    var worst: Double = 0
                    for i in 0..<m {
                        for j in 0..<n {
                            var sum: Double = 0
                            for p in 0..<k { sum += Double(a[i * k + p]) * Double(transposed ? b[j * k + p] : b[p * n + j]) }
                            let expected = Double(alpha) * sum + (accumulate ? Double(c0[i * n + j]) : 0)
                            let error = abs(expected - Double(c[i * n + j]))
                            worst = error.isNaN ? .infinity : max(worst, error)
                        }
                    }
                    #expect(worst < 1e-3, "\(path) m=\(m) n=\(n) k=\(k) transposed=\(transposed) accumulate=\(accumulate): max error \(worst)")
                }
            }
        }
    }

    /// The same for products from a packed B (the linear layers), and accumulating twice adds twice
    /// (the flag is not a scale: the old `beta` took any non-zero value as 1).
    @Test(arguments: KernelPath.supported)
    func packedProductsOverwriteOrAdd(path: KernelPath) {
        let (m, n, k) = (14, 50, 300)
        let a = (0..<(m * k)).map { Float(($0 * 31) % 17) / 8 - 1 }
        let w = (0..<(n * k)).map { Float(($0 * 13) % 23) / 11 - 1 }  // [n, k], torch's layout
        var packed = [Float](repeating: .nan, count: ek_packed_size(path.rawValue, Int32(n), Int32(k)))
        ek_pack(path.rawValue, 1, Int32(n), Int32(k), w, Int32(k), &packed)
        var once = [Float](repeating: .nan, count: m * n)
        #expect(ek_sgemm_packed(path.rawValue, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), packed, false, &once, Int32(n)) == path.rawValue)
        var twice = once
        _ = ek_sgemm_packed(path.rawValue, Int32(m), Int32(n), Int32(k), 1, a, Int32(k), packed, true, &twice, Int32(n))
        var worst: Double = 0
        for i in 0..<m {
            for j in 0..<n {
                var sum: Double = 0
                for p in 0..<k { sum += Double(a[i * k + p]) * Double(w[j * k + p]) }
                for (got, times) in [(once[i * n + j], 1.0), (twice[i * n + j], 2.0)] {
                    let error = abs(Double(got) - times * sum)
                    worst = error.isNaN ? .infinity : max(worst, error)
                }
            }
        }
        #expect(worst < 1e-3, "\(path): max error \(worst)")
    }
}
