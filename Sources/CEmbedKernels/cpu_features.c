// Which kernel path this CPU runs: the checks come from the same table as the paths' compile
// flags (cpu_features.h); cpuid and xgetbv are read once.
#include "EmbedKernels.h"
#include "cpu_features.h"

#include <pthread.h>
#include <stddef.h>

#if defined(__x86_64__)
#include <cpuid.h>
#define EK_X86 1
#endif

#define EK_OSXSAVE_BIT 27  // cpuid(1).ecx: the OS enabled xgetbv (XCR0 may be read)

// Runs in the body of ek_path_missing: the first extension of the list the CPU lacks is the answer.
#define EK_REQUIRE(name, reg, bit) \
    if (!((cpu->reg >> (bit)) & 1u)) return name;

static const char *ek_os_missing(const ek_cpu_registers *cpu, unsigned long long xcr0, const char *state) {
    if (!((cpu->leaf1_ecx >> EK_OSXSAVE_BIT) & 1u)) return "osxsave";
    return (cpu->xcr0 & xcr0) == xcr0 ? NULL : state;
}

const char *ek_path_missing(int path, const ek_cpu_registers *cpu) {
    if (path == EK_PATH_GENERIC) return NULL;
#if EK_X86
    if (path == EK_PATH_AVX2) {
        EK_AVX2_FEATURES(EK_REQUIRE)
        return ek_os_missing(cpu, EK_AVX2_XCR0, "OS support for the AVX registers (XCR0 bits 1, 2)");
    }
    if (path == EK_PATH_AVX512) {
        EK_AVX512_FEATURES(EK_REQUIRE)
        return ek_os_missing(cpu, EK_AVX512_XCR0, "OS support for the AVX-512 registers (XCR0 bits 1, 2, 5-7)");
    }
    return "a known kernel path";
#else
    (void)cpu;
    return path == EK_PATH_AVX2 || path == EK_PATH_AVX512 ? "x86-64" : "a known kernel path";
#endif
}

int ek_select_path(const ek_cpu_registers *cpu) {
    for (int path = EK_PATH_AVX512; path > EK_PATH_GENERIC; path--)
        if (!ek_path_missing(path, cpu)) return path;
    return EK_PATH_GENERIC;
}

static ek_cpu_registers ek_registers;
static int ek_best = EK_PATH_GENERIC;
static pthread_once_t ek_cpu_once = PTHREAD_ONCE_INIT;

static void ek_cpu_init(void) {
#if EK_X86
    unsigned a, b, c, d;
    if (__get_cpuid(1, &a, &b, &c, &d)) {
        ek_registers.leaf1_ecx = c;
        if (__get_cpuid_max(0, 0) >= 7) {
            __cpuid_count(7, 0, a, b, c, d);
            ek_registers.leaf7_ebx = b;
            ek_registers.leaf7_ecx = c;
        }
        // xgetbv faults unless the OS set OSXSAVE.
        if ((ek_registers.leaf1_ecx >> EK_OSXSAVE_BIT) & 1u) {
            unsigned lo, hi;
            __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
            ek_registers.xcr0 = ((unsigned long long)hi << 32) | lo;
        }
    }
#endif
    ek_best = ek_select_path(&ek_registers);
}

ek_cpu_registers ek_this_cpu(void) {
    pthread_once(&ek_cpu_once, ek_cpu_init);
    return ek_registers;
}

int ek_best_path(void) {
    pthread_once(&ek_cpu_once, ek_cpu_init);
    return ek_best;
}

// The lists are nested (EK_AVX512_FEATURES includes EK_AVX2_FEATURES), so every slower path runs too.
int ek_path_supported(int path) { return path >= EK_PATH_GENERIC && path <= ek_best_path(); }

int ek_cpu_has_avx2_fma(void) {
    ek_cpu_registers cpu = ek_this_cpu();
    return ((cpu.leaf1_ecx >> 12) & 1u) && ((cpu.leaf7_ebx >> 5) & 1u);
}
