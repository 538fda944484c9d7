import CEmbedKernels

/// Which micro-kernel the matrix products run (CEmbedKernels), chosen from the CPU's features by
/// cpuid at run time: no environment variable or library detection is involved, so a pod started
/// with no special environment gets the fastest kernel its CPU has.
package enum KernelPath: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Portable C (the compiler's baseline vector ISA): only for CPUs without AVX2 and FMA.
    case generic = 0
    /// AVX2 + FMA, 6×16 tiles.
    case avx2 = 1
    /// AVX-512F, 12×32 tiles.
    case avx512 = 2

    /// The fastest path this CPU runs.
    package static var best: KernelPath { KernelPath(rawValue: ek_best_path()) ?? .generic }

    /// Every path this CPU can run (the tests check each of them against the reference).
    package static var supported: [KernelPath] { allCases.filter(\.isSupported) }

    /// Whether the CPU reports AVX2 and FMA, from cpuid alone.
    package static var cpuHasAVX2: Bool { ek_cpu_has_avx2_fma() != 0 }

    package var isSupported: Bool { ek_path_supported(rawValue) != 0 }

    package var description: String {
        switch self {
        case .generic: "generic"
        case .avx2: "avx2"
        case .avx512: "avx512"
        }
    }
}
