// Matrix products of the in-process embedder, with micro-kernels for AVX-512, AVX2+FMA and a
// portable fallback, chosen at run time from the CPU's features (cpuid), never from the
// environment. Why our own: Debian's OpenBLAS 0.3.21 does not recognise the virtual CPUs of cloud
// nodes (AMD EPYC Zen 4 here) and falls back to its SSE3 kernel; see README "Local embeddings".
#ifndef EMBED_KERNELS_H
#define EMBED_KERNELS_H

#include <stdbool.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Returned by ek_sgemm instead of a path when its scratch memory could not be allocated (C is
/// then left untouched). Paths are ≥ 0, so `< 0` tells the two apart.
enum { EK_ENOMEM = -1 };

/// The kernel paths, slowest to fastest. Each needs every extension its code is compiled for
/// (cpu_features.h), and the OS must save the registers it uses.
typedef enum {
    EK_PATH_GENERIC = 0,   ///< portable C, vectorised by the compiler for the baseline ISA
    EK_PATH_AVX2 = 1,      ///< x86-64 AVX2 + FMA, 6×16 tiles
    EK_PATH_AVX512 = 2,    ///< x86-64 AVX-512 F/DQ/BW/VL, 12×32 tiles
} ek_path;

/// The cpuid and XCR0 values the path is chosen from, so the choice can be tested with values of
/// CPUs and VMs we do not have (Intel SDM vol. 2A, CPUID).
typedef struct {
    unsigned leaf1_ecx;       ///< cpuid(1).ecx: AVX, FMA, F16C, OSXSAVE…
    unsigned leaf7_ebx;       ///< cpuid(7, 0).ebx: AVX2, AVX-512 F/DQ/BW/VL…; 0 without leaf 7
    unsigned leaf7_ecx;       ///< cpuid(7, 0).ecx; 0 without leaf 7
    unsigned long long xcr0;  ///< register states the OS saves (xgetbv 0); 0 without OSXSAVE
} ek_cpu_registers;

/// This CPU's registers, read once.
ek_cpu_registers ek_this_cpu(void);

/// The fastest path a CPU with these registers can run (a pure function of them).
int ek_select_path(const ek_cpu_registers *cpu);

/// What a CPU with these registers lacks to run `path` (e.g. "avx512dq"), or NULL if it can run it.
const char *ek_path_missing(int path, const ek_cpu_registers *cpu);

/// The fastest path this CPU can run: ek_select_path(ek_this_cpu()), computed once.
int ek_best_path(void);

/// Whether this CPU can run `path`.
int ek_path_supported(int path);

/// Whether the CPU reports AVX2 and FMA (for the test that the fallback is not taken on such CPUs).
int ek_cpu_has_avx2_fma(void);

/// C[m, n] = alpha · Σₖ A[m, k] · B(k, n), plus C[m, n] itself when `accumulate`, all row-major,
/// where B(k, n) = B[n·ldb + k] when `b_transposed` (B holds N rows of K: torch's Linear weight
/// layout) and B[k·ldb + n] otherwise. Without `accumulate` the old contents of C are never read
/// (garbage or NaN there do not matter). A flag, not BLAS's `beta`: the encoder only ever
/// overwrites (attention) or adds to a bias already in C (linear layers). Runs on the calling
/// thread; `path` must be supported (see ek_path_supported), else the generic kernel runs. B is
/// packed into a per-thread buffer reused between calls. Returns the path that ran, or EK_ENOMEM
/// when that buffer could not be grown (C untouched).
int ek_sgemm(int path, int b_transposed, int m, int n, int k, float alpha,
             const float *a, int lda, const float *b, int ldb, bool accumulate, float *c, int ldc);

/// The panel width (columns) of `path`'s packed B: column ranges of a packed matrix start at
/// multiples of it.
int ek_panel_width(int path);

/// Floats `ek_pack` writes for an n × k operand on `path`.
long ek_packed_size(int path, int n, int k);

/// Packs B(k, n) (layout as in ek_sgemm) into panels for `path`: done once per weight matrix at
/// load, so the products of every forward pass skip it. Columns [j, j + w) of the packed matrix,
/// j a multiple of ek_panel_width, start at `out + j·k`.
void ek_pack(int path, int transposed, int n, int k, const float *b, int ldb, float *out);

/// ek_sgemm with B already packed by ek_pack for the same `path` and `k`. Allocates nothing, so
/// it always returns the path that ran.
int ek_sgemm_packed(int path, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *packed, bool accumulate, float *c, int ldc);

/// Tests only: the calling thread's next `count` calls of ek_sgemm fail with EK_ENOMEM as if its
/// scratch buffer could not be grown (whether or not it needed to be).
void ek_test_fail_allocations(int count);

/// Each row of x[rows, width] becomes its softmax, in place (exp accurate to a few ulps).
void ek_softmax_rows(int path, float *x, int rows, int width);

/// x = GELU(x) in its exact (erf) form, in place; erf to 1.5e-7.
void ek_gelu(int path, float *x, long count);

/// Each row of x becomes LayerNorm(x + y) = γ·(v − mean)/√(var + ε) + β, in place (y may be NULL).
void ek_add_layer_norm(int path, const float *y, float *x, int rows, int width, const float *gamma,
                       const float *beta, float epsilon);

#ifdef __cplusplus
}
#endif
#endif
