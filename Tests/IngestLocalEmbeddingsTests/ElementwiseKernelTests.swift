import CEmbedKernels
import Foundation
import IngestLocalEmbeddings
import Testing

/// Softmax, GELU and layer norm of CEmbedKernels, each against a double-precision reference on
/// every kernel path this CPU runs (issue 20): until now they were only checked through the whole
/// model, where a wrong tail or a lane bug in one path could hide below the cosine threshold.
///
/// Lengths are odd and around the 16-lane blocks of the C code (tails), magnitudes large and
/// small. Each tolerance is an error bound worked out from the C code in float (u = 2⁻²⁴, the
/// unit round-off), with some margin; what the tests assert is `error ≤ bound` element by element.
/// Measured on the generic and AVX2 paths (December 2026): the worst error is 0.51 of the bound
/// for softmax, 0.29 for GELU and 0.17 for layer norm, so a lane or tail bug (errors of order 1)
/// cannot hide inside them.
@Suite struct ElementwiseKernelTests {
    static let u = 0x1p-24

    /// Lengths with every tail the 16-lane loops can leave, and the model's own (384).
    static let widths = [1, 3, 15, 16, 17, 31, 33, 100, 384, 389]

    // MARK: - Softmax

    /// Bound, relative to the exact value p (plus an absolute floor):
    /// - d = x − max is rounded (|d|·u; exact by Sterbenz when x and max are close, and only
    ///   |d| ≤ 87.3 matters: below, eᵈ is under 1.2e-38, the absolute floor);
    /// - the Cephes exp is good to about 2 ulps (2u·2);
    /// - the float sum of `width` terms in 16 lanes: at most (width/16 + 16) roundings, each ≤ u;
    /// - the reciprocal and the product: 2u more.
    /// So |error| ≤ (87.3 + width/16 + 24)·u·p + 1.2e-38; twice that is the bound tested.
    /// The clamp at −87.3 gives e^−87.3 instead of a smaller value: covered by the floor.
    @Test(arguments: KernelPath.supported)
    func softmaxMatchesADoubleReference(path: KernelPath) {
        let rows = 3
        for width in Self.widths {
            for (scale, offset) in [(1.0, 0.0), (30.0, 0.0), (1e4, 0.0), (1e-6, 0.0), (1.0, 1e3), (5.0, -2e3)] {
                var random = Generator(seed: UInt64(width) &* 977 &+ UInt64(scale * 3))
                let input = (0..<(rows * width)).map { _ in Float(offset + scale * random.uniform(-1, 1)) }
                var x = input + [42]  // a sentinel: nothing past rows·width is written
                ek_softmax_rows(path.rawValue, &x, Int32(rows), Int32(width))
                #expect(x.last == 42, "\(path): softmax wrote past the end (width \(width))")
                for r in 0..<rows {
                    let row = input[(r * width)..<((r + 1) * width)].map(Double.init)
                    let maximum = row.max()!
                    let exps = row.map { exp($0 - maximum) }
                    let sum = exps.reduce(0, +)
                    for j in 0..<width {
                        let exact = exps[j] / sum
                        let bound = 2 * ((87.3 + Double(width) / 16 + 24) * Self.u * exact + 1.2e-38)
                        let error = abs(Double(x[r * width + j]) - exact)
                        #expect(error <= bound, "\(path) width \(width) scale \(scale) offset \(offset): softmax \(x[r * width + j]) vs \(exact) (bound \(bound))")
                    }
                }
            }
        }
    }

    // MARK: - GELU

    /// Exact GELU, 0.5·v·erfc(−v/√2): the erfc form keeps its accuracy for large negative v,
    /// where 1 + erf(v/√2) cancels.
    static func gelu(_ v: Double) -> Double { 0.5 * v * erfc(-v / 2.0.squareRoot()) }

    /// Bound: the kernel computes 0.5·v·(1 + e) with e ≈ erf(v/√2). Abramowitz & Stegun 7.1.26 is
    /// good to 1.5e-7 absolute; evaluating it in float adds a few roundings of terms ≤ 1 (the
    /// polynomial in t, the product with exp, 1 − …: about 6u ≈ 3.6e-7) and the rounding of 1 + e
    /// (≤ 2u, as 1 + e < 2). So |error| ≤ 0.5·|v|·(1.5e-7 + 8u) + 2u·|GELU(v)| (the final products),
    /// plus the spacing of subnormals (1.4e-45) for the tiniest v; 1.5× that is the bound tested.
    /// The absolute term dominates for v ≪ 0, where GELU(v) is tiny and float cannot do better
    /// than cancelling 1 + e.
    @Test(arguments: KernelPath.supported)
    func geluMatchesADoubleReference(path: KernelPath) {
        var values: [Float] = (0...2000).map { Float(-10 + Double($0) / 100) }
        values += [0, -0.0, 1e-30, -1e-30, 1e-40, -1e-40, 1e-6, -1e-6, 3e-3, -3e-3, 1e3, -1e3, 1e30, -1e30, 87, -87, 6, -6]
        var random = Generator(seed: 20)
        values += (0..<37).map { _ in Float(random.uniform(-40, 40)) }
        let count = values.count  // 2056: not a multiple of 16
        var x = values + [42]
        ek_gelu(path.rawValue, &x, count)
        #expect(x.last == 42, "\(path): gelu wrote past the end")
        for (v, got) in zip(values, x) {
            let exact = Self.gelu(Double(v))
            let bound = 1.5 * (0.5 * abs(Double(v)) * (1.5e-7 + 8 * Self.u) + 2 * Self.u * abs(exact) + 1.4e-45)
            let error = abs(Double(got) - exact)
            #expect(error <= bound, "\(path): GELU(\(v)) = \(got), exact \(exact) (bound \(bound))")
        }
    }

    // MARK: - Layer norm

    /// Bound on n = (v − mean)/σ, for v = x + y summed in float: v itself is off by u·|v|; the
    /// mean and the variance are float sums of `width` terms in 16 lanes ((width/16 + 16)
    /// roundings each), the variance's terms (v − mean)² carrying the mean's error; the square
    /// root and the reciprocal add 2u. Relative to σ that is at most
    ///   (max|v|/σ + |n|)·(width/16 + 20)·u
    /// and γ·n + β adds 2u·(|γ·n| + |β|). Float cannot do better when max|v| ≫ σ (a large offset):
    /// the inputs alone lose that much. Twice the bound is tested.
    @Test(arguments: KernelPath.supported)
    func layerNormMatchesADoubleReference(path: KernelPath) {
        let rows = 3
        for width in Self.widths {
            for (scale, offset) in [(1.0, 0.0), (1e3, 0.0), (1e-3, 0.0), (1.0, 1e3), (1e-4, 0.0)] {
                for withResidual in [false, true] {
                    let epsilon: Float = 1e-12
                    var random = Generator(seed: UInt64(width) &* 31 &+ (withResidual ? 7 : 0))
                    let input = (0..<(rows * width)).map { _ in Float(offset + scale * random.uniform(-1, 1)) }
                    let residual = (0..<(rows * width)).map { _ in Float(scale * random.uniform(-1, 1)) }
                    let gamma = (0..<width).map { _ in Float(random.uniform(-1.5, 1.5)) }
                    let beta = (0..<width).map { _ in Float(random.uniform(-0.5, 0.5)) }
                    var x = input + [42]
                    if withResidual {
                        ek_add_layer_norm(path.rawValue, residual, &x, Int32(rows), Int32(width), gamma, beta, epsilon)
                    } else {
                        ek_add_layer_norm(path.rawValue, nil, &x, Int32(rows), Int32(width), gamma, beta, epsilon)
                    }
                    #expect(x.last == 42, "\(path): layer norm wrote past the end (width \(width))")
                    for r in 0..<rows {
                        let v = (0..<width).map { Double(input[r * width + $0]) + (withResidual ? Double(residual[r * width + $0]) : 0) }
                        let mean = v.reduce(0, +) / Double(width)
                        let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(width)
                        let sigma = (variance + Double(epsilon)).squareRoot()
                        let largest = v.map(abs).max()!
                        for j in 0..<width {
                            let n = (v[j] - mean) / sigma
                            let exact = Double(gamma[j]) * n + Double(beta[j])
                            let normalised = (largest / sigma + abs(n)) * (Double(width) / 16 + 20) * Self.u
                            let bound = 2 * (abs(Double(gamma[j])) * normalised + 2 * Self.u * (abs(Double(gamma[j]) * n) + abs(Double(beta[j]))))
                            let error = abs(Double(x[r * width + j]) - exact)
                            #expect(error <= bound, "\(path) width \(width) scale \(scale) offset \(offset) residual \(withResidual): \(x[r * width + j]) vs \(exact) (bound \(bound))")
                        }
                    }
                }
            }
        }
    }
}

/// A small deterministic generator (SplitMix64), so every run and path sees the same inputs.
private struct Generator {
    var state: UInt64
    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [low, high).
    mutating func uniform(_ low: Double, _ high: Double) -> Double {
        low + (high - low) * Double(next() >> 11) * 0x1p-53
    }
}
