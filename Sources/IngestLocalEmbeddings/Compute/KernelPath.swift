import CEmbedKernels

/// Which micro-kernel the matrix products run (CEmbedKernels), chosen from the CPU's features by
/// cpuid at run time: no environment variable or library detection is involved, so a pod started
/// with no special environment gets the fastest kernel its CPU has.
package enum KernelPath: Int32, Sendable, CaseIterable, CustomStringConvertible {
    /// Portable C (the compiler's baseline vector ISA): only for CPUs without AVX2 and FMA.
    case generic = 0
    /// AVX2 + FMA, 6×16 tiles.
    case avx2 = 1
    /// AVX-512 F/DQ/BW/VL, 12×32 tiles.
    case avx512 = 2

    /// The fastest path this CPU runs.
    package static var best: KernelPath { KernelPath(rawValue: ek_best_path()) ?? .generic }

    /// The fastest path a CPU with these cpuid/XCR0 values runs: the same choice as ``best``,
    /// for values of CPUs and VMs the tests do not run on.
    package static func best(for cpu: ek_cpu_registers) -> KernelPath {
        withUnsafePointer(to: cpu) { KernelPath(rawValue: ek_select_path($0)) ?? .generic }
    }

    /// What a CPU with these values lacks to run this path ("avx512dq", the OS support for the
    /// AVX-512 registers…), or nil when it can run it.
    package func missing(on cpu: ek_cpu_registers = ek_this_cpu()) -> String? {
        withUnsafePointer(to: cpu) { ek_path_missing(rawValue, $0).map { String(cString: $0) } }
    }

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
