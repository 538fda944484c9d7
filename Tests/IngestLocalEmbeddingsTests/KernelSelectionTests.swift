import CEmbedKernels
import IngestLocalEmbeddings
import Testing

/// The choice of kernel path from cpuid and XCR0 (security issue 19): a path is taken only when the
/// CPU has every extension its code is compiled for and the OS saves its registers, else a CPU or
/// VM with AVX512F but not DQ/BW/VL dies with SIGILL. Synthetic register values, with the bit
/// positions written out here from the Intel SDM (vol. 2A, CPUID; vol. 1, XCR0) rather than read
/// from the table under test.
@Suite struct KernelSelectionTests {
    // cpuid(1).ecx
    static let fma: UInt32 = 1 << 12, osxsave: UInt32 = 1 << 27, avx: UInt32 = 1 << 28, f16c: UInt32 = 1 << 29
    // cpuid(7, 0).ebx
    static let avx2: UInt32 = 1 << 5, avx512f: UInt32 = 1 << 16, avx512dq: UInt32 = 1 << 17
    static let avx512bw: UInt32 = 1 << 30, avx512vl: UInt32 = 1 << 31
    // XCR0: x87, SSE, AVX; opmask, ZMM_Hi256, Hi16_ZMM.
    static let xcr0AVX: UInt64 = 0b111, xcr0AVX512: UInt64 = 0b1110_0111

    /// A Zen 4 / Sapphire Rapids-like CPU under an OS that saves the ZMM state (some unrelated
    /// bits set too, as real CPUs report them).
    static let full = ek_cpu_registers(
        leaf1_ecx: fma | osxsave | avx | f16c | (1 << 0) | (1 << 19) | (1 << 20) | (1 << 26),
        leaf7_ebx: avx2 | avx512f | avx512dq | avx512bw | avx512vl | (1 << 3) | (1 << 8) | (1 << 28),
        leaf7_ecx: 1 << 1,
        xcr0: xcr0AVX512 | (1 << 9))

    /// A Haswell-like CPU: AVX2, FMA, F16C, no AVX-512; the OS saves YMM state.
    static let haswell = ek_cpu_registers(leaf1_ecx: fma | osxsave | avx | f16c, leaf7_ebx: avx2, leaf7_ecx: 0, xcr0: xcr0AVX)

    static func without(_ cpu: ek_cpu_registers, leaf1 l1: UInt32 = 0, leaf7 l7: UInt32 = 0, xcr0 x: UInt64 = 0) -> ek_cpu_registers {
        ek_cpu_registers(leaf1_ecx: cpu.leaf1_ecx & ~l1, leaf7_ebx: cpu.leaf7_ebx & ~l7, leaf7_ecx: cpu.leaf7_ecx, xcr0: cpu.xcr0 & ~x)
    }

    #if arch(x86_64)
    @Test func everythingPresentIsTheAVX512Path() {
        #expect(KernelPath.best(for: Self.full) == .avx512)
        #expect(KernelPath.best(for: Self.haswell) == .avx2)
    }

    /// The SIGILL case: AVX512F, FMA, AVX2 and the ZMM state saved, but no AVX512DQ (Knights
    /// Landing, or a VM that masks it). Today's selector took the AVX-512 path here.
    @Test func avx512FWithoutDQIsNotTheAVX512Path() {
        let cpu = Self.without(Self.full, leaf7: Self.avx512dq)
        #expect(KernelPath.best(for: cpu) == .avx2)
        #expect(KernelPath.avx512.missing(on: cpu) == "avx512dq")
    }

    /// Knights Landing exactly: AVX-512 F/CD/ER/PF, none of DQ/BW/VL.
    @Test func knightsLandingRunsTheAVX2Path() {
        let cpu = Self.without(Self.full, leaf7: Self.avx512dq | Self.avx512bw | Self.avx512vl)
        #expect(KernelPath.best(for: cpu) == .avx2)
    }

    /// Each extension the AVX-512 code is compiled for, missing alone, leaves the AVX2 path (or
    /// generic when the AVX2 path needs it too), named by `missing`.
    @Test(arguments: [
        ("avx512f", KernelSelectionTests.avx512f, UInt32(0), KernelPath.avx2),
        ("avx512dq", KernelSelectionTests.avx512dq, 0, .avx2),
        ("avx512bw", KernelSelectionTests.avx512bw, 0, .avx2),
        ("avx512vl", KernelSelectionTests.avx512vl, 0, .avx2),
        ("f16c", 0, KernelSelectionTests.f16c, .avx2),
        ("avx2", KernelSelectionTests.avx2, 0, .generic),
        ("fma", 0, KernelSelectionTests.fma, .generic),
        ("avx", 0, KernelSelectionTests.avx, .generic),
    ])
    func oneMissingExtensionRulesOutThePathsThatUseIt(name: String, leaf7: UInt32, leaf1: UInt32, expected: KernelPath) {
        let cpu = Self.without(Self.full, leaf1: leaf1, leaf7: leaf7)
        #expect(KernelPath.best(for: cpu) == expected)
        #expect(KernelPath.avx512.missing(on: cpu) == name)
        #expect((KernelPath.avx2.missing(on: cpu) == nil) == (expected == .avx2))
    }

    @Test func noAVX2IsGeneric() {
        let sandyBridge = Self.without(Self.haswell, leaf7: Self.avx2)
        #expect(KernelPath.best(for: sandyBridge) == .generic)
        #expect(KernelPath.avx2.missing(on: sandyBridge) == "avx2")
        let noFMA = Self.without(Self.haswell, leaf1: Self.fma)
        #expect(KernelPath.best(for: noFMA) == .generic)
        // No leaf 7 at all (the reader leaves its registers 0).
        #expect(KernelPath.best(for: ek_cpu_registers(leaf1_ecx: Self.full.leaf1_ecx, leaf7_ebx: 0, leaf7_ecx: 0, xcr0: Self.xcr0AVX512)) == .generic)
        #expect(KernelPath.best(for: ek_cpu_registers()) == .generic)
    }

    /// The CPU has AVX-512 but the OS does not save the opmask or upper ZMM registers on a context
    /// switch (each of XCR0 bits 5, 6, 7): AVX2, whose YMM state is saved.
    @Test(arguments: [UInt64(1) << 5, 1 << 6, 1 << 7, 0b1110_0000])
    func zmmStateNotSavedByTheOSIsNotTheAVX512Path(bits: UInt64) {
        let cpu = Self.without(Self.full, xcr0: bits)
        #expect(KernelPath.best(for: cpu) == .avx2)
        #expect(KernelPath.avx512.missing(on: cpu)?.contains("XCR0") == true)
    }

    /// The OS does not save YMM (XCR0 bit 2) or SSE (bit 1) state: generic, whatever the CPU has.
    @Test(arguments: [UInt64(1) << 1, 1 << 2])
    func ymmStateNotSavedIsGeneric(bit: UInt64) {
        #expect(KernelPath.best(for: Self.without(Self.full, xcr0: bit)) == .generic)
        #expect(KernelPath.best(for: Self.without(Self.haswell, xcr0: bit)) == .generic)
    }

    /// Without OSXSAVE, XCR0 cannot be read (xgetbv faults) and the OS is taken not to save the
    /// wide registers, even if the value passed in claims it does.
    @Test func noOSXSAVEIsGeneric() {
        let cpu = Self.without(Self.full, leaf1: Self.osxsave)
        #expect(KernelPath.best(for: cpu) == .generic)
        #expect(KernelPath.avx2.missing(on: cpu) == "osxsave")
    }

    /// The path the kernels run is this very selection applied to this CPU's registers, and the
    /// AVX-512 path implies the AVX2 one (the tables are nested).
    @Test func thisCPUGoesThroughTheSameSelection() {
        let cpu = ek_this_cpu()
        #expect(KernelPath.best(for: cpu) == KernelPath.best)
        for path in KernelPath.allCases {
            #expect((path.missing(on: cpu) == nil) == path.isSupported, "\(path): \(path.missing(on: cpu) ?? "nothing missing")")
        }
        #expect(KernelPath.generic.missing(on: ek_cpu_registers()) == nil)
    }
    #endif
}
