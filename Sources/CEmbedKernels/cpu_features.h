// The one table of the x86 extensions each kernel path is compiled for. It expands both into the
// target attributes of that path's code (gemm.c, elementwise.c) and into the cpuid checks that
// choose the path (cpu_features.c), so code built for an extension is never run on a CPU without
// it (an AVX512F-only CPU or VM took SIGILL on the AVX512DQ/VL code of the element-wise steps).
#ifndef EK_CPU_FEATURES_H
#define EK_CPU_FEATURES_H

// X(name, register, bit): `name` as the compiler's target attribute spells it; where cpuid reports
// it: a field of ek_cpu_registers and its bit (Intel SDM vol. 2A, CPUID). Implied extensions are
// listed too (clang's avx512f turns on f16c), as the compiler may use them.
#define EK_AVX2_FEATURES(X)    \
    X("avx", leaf1_ecx, 28)    \
    X("fma", leaf1_ecx, 12)    \
    X("avx2", leaf7_ebx, 5)

// Includes the AVX2 list, so a CPU that runs this path runs the AVX2 path too.
#define EK_AVX512_FEATURES(X)      \
    EK_AVX2_FEATURES(X)            \
    X("f16c", leaf1_ecx, 29)       \
    X("avx512f", leaf7_ebx, 16)    \
    X("avx512dq", leaf7_ebx, 17)   \
    X("avx512bw", leaf7_ebx, 30)   \
    X("avx512vl", leaf7_ebx, 31)

// The register states the OS must save on a context switch (XCR0, read with xgetbv once OSXSAVE is
// set): SSE and AVX (bits 1, 2); for AVX-512 also the opmask, ZMM_Hi256 and Hi16_ZMM state (5-7).
#define EK_AVX2_XCR0 0x06ull
#define EK_AVX512_XCR0 0xe6ull

#define EK_TARGET_NAME(name, reg, bit) "," name
// "sse2" (the x86-64 baseline) only lets every table name follow a comma.
#define EK_TARGET_OF(list) __attribute__((target("sse2" list(EK_TARGET_NAME))))
#define EK_TARGET_AVX2 EK_TARGET_OF(EK_AVX2_FEATURES)
#define EK_TARGET_AVX512 EK_TARGET_OF(EK_AVX512_FEATURES)

#endif
