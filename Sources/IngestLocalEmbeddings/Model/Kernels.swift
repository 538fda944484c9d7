/// The element-wise steps of the encoder, written so that LLVM vectorises them.
///
/// Why not libm: `expf`/`erff` cost a call per element and do not vectorise, and softmax (≈ 14k
/// exponentials per token at 200 tokens) and GELU (≈ 9k error functions per token) would then
/// take a fifth of the run. The approximations below are accurate to a few float ulps (exp) and
/// 1.5e-7 absolute (erf), far inside what the cosine ≥ 0.999 parity with PyTorch needs.
enum Kernels {
    /// Normalises each row of `x` in place to zero mean and unit variance, then γ·x + β.
    static func layerNorm(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int, _ norm: BertEncoder.LayerNorm, epsilon: Float) {
        for r in 0..<rows { normaliseRow(x + r * width, width: width, norm, epsilon: epsilon) }
    }

    /// x = LayerNorm(x + y), row by row (the residual connection of each sub-layer).
    static func addLayerNorm(_ y: UnsafePointer<Float>, into x: UnsafeMutablePointer<Float>, rows: Int, width: Int, _ norm: BertEncoder.LayerNorm, epsilon: Float) {
        for r in 0..<rows {
            let row = x + r * width
            let add = y + r * width
            for j in 0..<width { row[j] += add[j] }
            normaliseRow(row, width: width, norm, epsilon: epsilon)
        }
    }

    private static func normaliseRow(_ row: UnsafeMutablePointer<Float>, width: Int, _ norm: BertEncoder.LayerNorm, epsilon: Float) {
        var sum: Float = 0
        for j in 0..<width { sum += row[j] }
        let mean = sum / Float(width)
        var squares: Float = 0
        for j in 0..<width {
            let d = row[j] - mean
            squares += d * d
        }
        let inverse = 1 / (squares / Float(width) + epsilon).squareRoot()
        for j in 0..<width { row[j] = (row[j] - mean) * inverse * norm.gamma[j] + norm.beta[j] }
    }

    /// Each row of `x` becomes softmax(row), in place.
    static func softmaxRows(_ x: UnsafeMutablePointer<Float>, rows: Int, width: Int) {
        for r in 0..<rows {
            let row = x + r * width
            var maximum = -Float.infinity
            for j in 0..<width where row[j] > maximum { maximum = row[j] }
            for j in 0..<width { row[j] = exp(row[j] - maximum) }
            let inverse = 1 / sum(row, count: width)
            for j in 0..<width { row[j] *= inverse }
        }
    }

    /// GELU in its exact form, x · ½(1 + erf(x/√2)), as HF's `gelu` (not the tanh approximation).
    static func gelu(_ x: UnsafeMutablePointer<Float>, count: Int) {
        for i in 0..<count {
            let v = x[i]
            x[i] = 0.5 * v * (1 + erf(v * 0.707_106_781_186_547_5))
        }
    }

    /// Σ x[0..<count], eight running sums so the loop vectorises (float addition is not
    /// reassociated by the compiler on its own).
    @inline(__always)
    static func sum(_ x: UnsafePointer<Float>, count: Int) -> Float {
        var lanes = SIMD8<Float>(repeating: 0)
        var i = 0
        while i + 8 <= count {
            lanes += UnsafeRawPointer(x + i).loadUnaligned(as: SIMD8<Float>.self)
            i += 8
        }
        var total = lanes.sum()
        while i < count {
            total += x[i]
            i += 1
        }
        return total
    }

    // The two functions below are branch-free scalar code on purpose: called from a simple loop
    // they are inlined and vectorised by LLVM (generic SIMD min/max/clamp in Swift are not).

    /// eˣ (Cephes `expf`): x = n·ln2 + r, |r| ≤ ½ln2, a degree-6 polynomial for eʳ, 2ⁿ built in
    /// the exponent bits. Inputs are clamped to [-87.3, 88.7], where the result is a normal float.
    @inline(__always)
    static func exp(_ input: Float) -> Float {
        var x = input < -87.3 ? -87.3 : input
        x = x > 88.7 ? 88.7 : x
        // Adding 1.5·2²³ rounds to an integer and leaves it in the low mantissa bits.
        let magic: Float = 12_582_912
        let t = x * 1.442_695_04 + magic
        let n = t - magic
        var r = x - n * 0.693_359_375
        r = r - n * -2.121_944_4e-4
        var p: Float = 1.987_569_15e-4
        p = p * r + 1.398_199_95e-3
        p = p * r + 8.333_451_9e-3
        p = p * r + 4.166_579_59e-2
        p = p * r + 1.666_666_55e-1
        p = p * r + 5.000_000_12e-1
        let y = p * r * r + r + 1
        return y * Float(bitPattern: (t.bitPattern &+ 127) &<< 23)
    }

    /// erf(x) (Abramowitz & Stegun 7.1.26, |error| ≤ 1.5e-7), odd by construction.
    @inline(__always)
    static func erf(_ x: Float) -> Float {
        let sign = x.bitPattern & 0x8000_0000
        let a = Float(bitPattern: x.bitPattern & 0x7FFF_FFFF)
        let t = 1 / (1 + 0.327_591_1 * a)
        var p: Float = 1.061_405_429
        p = p * t - 1.453_152_027
        p = p * t + 1.421_413_741
        p = p * t - 0.284_496_736
        p = p * t + 0.254_829_592
        let y = 1 - p * t * exp(-(a * a))
        return Float(bitPattern: y.bitPattern | sign)
    }
}
