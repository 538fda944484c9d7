// Packed matrix products (GotoBLAS/BLIS layout): B is packed into panels of NR columns, A into
// panels of MR rows, blocked so a B block stays in L2 and an A panel in L1; a micro-kernel keeps
// an MR×NR tile of C in registers. The x86 micro-kernels are compiled with per-function target
// attributes from the feature table (cpu_features.h), so this file builds for the baseline ISA
// and picks a kernel at run time.
#include "EmbedKernels.h"
#include "cpu_features.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#if defined(__x86_64__)
#include <immintrin.h>
#define EK_X86 1
#endif

// The tile of each micro-kernel: MR rows of A by NR columns of B (the panel width), held in
// registers. The x86 kernels keep a row of the tile in two vectors (2 × 16 floats in ZMM, 2 × 8 in
// YMM) and MR rows in 2·MR of the 32 (AVX-512) or 16 (AVX2) vector registers, leaving room for B
// and the broadcast of A.
enum {
    EK_GENERIC_MR = 4, EK_GENERIC_NR = 16,
    EK_AVX2_MR = 6, EK_AVX2_NR = 2 * 8,
    EK_AVX512_MR = 12, EK_AVX512_NR = 2 * 16,
};

// The largest tile of any path: the stack buffers of ek_sgemm_packed are sized from these.
#define EK_MAX(a, b) ((a) > (b) ? (a) : (b))
enum {
    EK_MAX_MR = EK_MAX(EK_GENERIC_MR, EK_MAX(EK_AVX2_MR, EK_AVX512_MR)),
    EK_MAX_NR = EK_MAX(EK_GENERIC_NR, EK_MAX(EK_AVX2_NR, EK_AVX512_NR)),
};

// KC: the depth of a block (KC·NR floats of B stay in L1 with an A panel); NC: the columns of a
// block, a whole number of panels of every path.
enum { KC = 256, NC = 384 };

_Static_assert(EK_GENERIC_MR <= EK_MAX_MR && EK_AVX2_MR <= EK_MAX_MR && EK_AVX512_MR <= EK_MAX_MR,
               "the edge buffer holds EK_MAX_MR rows of A: every path's MR must fit");
_Static_assert(EK_GENERIC_NR <= EK_MAX_NR && EK_AVX2_NR <= EK_MAX_NR && EK_AVX512_NR <= EK_MAX_NR,
               "the edge tile holds EK_MAX_NR columns: every path's NR must fit");
_Static_assert(NC % EK_GENERIC_NR == 0 && NC % EK_AVX2_NR == 0 && NC % EK_AVX512_NR == 0,
               "a block of NC columns must be whole panels of every path");
_Static_assert(EK_AVX512_NR == 2 * 16 && EK_AVX2_NR == 2 * 8,
               "the x86 kernels hold a tile row in exactly two vectors");
_Static_assert(sizeof(float) * (EK_MAX_MR * KC + EK_MAX_MR * EK_MAX_NR) <= 16 * 1024,
               "the stack buffers of ek_sgemm_packed must stay small (compute threads have 1 MiB stacks)");

// MARK: - Micro-kernels: C[0..<MR, 0..<NR] = alpha · Σₖ A[i·lda + k] · b[k·NR + j] (+ C)
//
// A is read in place (row i at a + i·lda; no packing: its rows stay in L1 across the panels of a
// block), B from packed panels of NR columns (k-major).

typedef void (*ek_kernel_fn)(int kc, const float *a, long lda, const float *b, float *c, long ldc, float alpha, int accumulate);

#if EK_X86
EK_TARGET_AVX512
static void ek_kernel_avx512(int kc, const float *a, long lda, const float *b, float *c, long ldc, float alpha, int accumulate) {
    enum { MR = EK_AVX512_MR };
    __m512 c0[MR], c1[MR];
    for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm512_setzero_ps();
    for (int p = 0; p < kc; p++) {
        __m512 b0 = _mm512_loadu_ps(b), b1 = _mm512_loadu_ps(b + 16);
        for (int i = 0; i < MR; i++) {
            __m512 ai = _mm512_set1_ps(a[i * lda + p]);
            c0[i] = _mm512_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm512_fmadd_ps(ai, b1, c1[i]);
        }
        b += EK_AVX512_NR;
    }
    __m512 s = _mm512_set1_ps(alpha);
    for (int i = 0; i < MR; i++) {
        float *row = c + i * ldc;
        if (accumulate) {
            c0[i] = _mm512_fmadd_ps(c0[i], s, _mm512_loadu_ps(row));
            c1[i] = _mm512_fmadd_ps(c1[i], s, _mm512_loadu_ps(row + 16));
        } else {
            c0[i] = _mm512_mul_ps(c0[i], s);
            c1[i] = _mm512_mul_ps(c1[i], s);
        }
        _mm512_storeu_ps(row, c0[i]);
        _mm512_storeu_ps(row + 16, c1[i]);
    }
}

EK_TARGET_AVX2
static void ek_kernel_avx2(int kc, const float *a, long lda, const float *b, float *c, long ldc, float alpha, int accumulate) {
    enum { MR = EK_AVX2_MR };
    __m256 c0[MR], c1[MR];
    for (int i = 0; i < MR; i++) c0[i] = c1[i] = _mm256_setzero_ps();
    for (int p = 0; p < kc; p++) {
        __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8);
        for (int i = 0; i < MR; i++) {
            __m256 ai = _mm256_broadcast_ss(a + i * lda + p);
            c0[i] = _mm256_fmadd_ps(ai, b0, c0[i]);
            c1[i] = _mm256_fmadd_ps(ai, b1, c1[i]);
        }
        b += EK_AVX2_NR;
    }
    __m256 s = _mm256_set1_ps(alpha);
    for (int i = 0; i < MR; i++) {
        float *row = c + i * ldc;
        if (accumulate) {
            c0[i] = _mm256_fmadd_ps(c0[i], s, _mm256_loadu_ps(row));
            c1[i] = _mm256_fmadd_ps(c1[i], s, _mm256_loadu_ps(row + 8));
        } else {
            c0[i] = _mm256_mul_ps(c0[i], s);
            c1[i] = _mm256_mul_ps(c1[i], s);
        }
        _mm256_storeu_ps(row, c0[i]);
        _mm256_storeu_ps(row + 8, c1[i]);
    }
}
#endif

/// Portable: 4×16, written so the compiler keeps the tile in vector registers of the baseline ISA.
static void ek_kernel_generic(int kc, const float *a, long lda, const float *b, float *c, long ldc, float alpha, int accumulate) {
    enum { MR = EK_GENERIC_MR, NR = EK_GENERIC_NR };
    float t[MR][NR];
    memset(t, 0, sizeof t);
    for (int p = 0; p < kc; p++) {
        for (int i = 0; i < MR; i++) {
            float ai = a[i * lda + p];
            for (int j = 0; j < NR; j++) t[i][j] += ai * b[j];
        }
        b += NR;
    }
    for (int i = 0; i < MR; i++) {
        float *row = c + i * ldc;
        for (int j = 0; j < NR; j++) row[j] = (accumulate ? row[j] : 0) + alpha * t[i][j];
    }
}

typedef struct {
    int mr, nr;
    ek_kernel_fn kernel;
} ek_kernel;

static ek_kernel ek_kernel_for(int path) {
#if EK_X86
    if (path == EK_PATH_AVX512) return (ek_kernel){EK_AVX512_MR, EK_AVX512_NR, ek_kernel_avx512};
    if (path == EK_PATH_AVX2) return (ek_kernel){EK_AVX2_MR, EK_AVX2_NR, ek_kernel_avx2};
#endif
    (void)path;
    return (ek_kernel){EK_GENERIC_MR, EK_GENERIC_NR, ek_kernel_generic};
}

// MARK: - Packing B

int ek_panel_width(int path) {
    if (!ek_path_supported(path)) path = EK_PATH_GENERIC;
    return ek_kernel_for(path).nr;
}

long ek_packed_size(int path, int n, int k) {
    long nr = ek_panel_width(path);
    return ((long)n + nr - 1) / nr * nr * k;
}

void ek_pack(int path, int transposed, int n, int k, const float *b, int ldb, float *out) {
    int nr = ek_panel_width(path);
    for (int j = 0; j < n; j += nr) {
        int cols = n - j < nr ? n - j : nr;
        if (transposed) {
            // Read BLOCK rows of B (columns of the product) at a time, write k-major.
            for (int p0 = 0; p0 < k; p0 += 64) {
                int p1 = p0 + 64 < k ? p0 + 64 : k;
                for (int q = 0; q < nr; q++) {
                    if (q < cols) {
                        const float *src = b + (long)(j + q) * ldb;
                        for (int p = p0; p < p1; p++) out[(long)p * nr + q] = src[p];
                    } else {
                        for (int p = p0; p < p1; p++) out[(long)p * nr + q] = 0;
                    }
                }
            }
        } else {
            for (int p = 0; p < k; p++) {
                const float *src = b + (long)p * ldb + j;
                float *dst = out + (long)p * nr;
                memcpy(dst, src, sizeof(float) * (size_t)cols);
                if (cols < nr) memset(dst + cols, 0, sizeof(float) * (size_t)(nr - cols));
            }
        }
        out += (long)k * nr;
    }
}

// MARK: - Per-thread scratch (B packed by ek_sgemm)

typedef struct {
    float *b;
    long capacity;
} ek_scratch;

static pthread_key_t ek_scratch_key;
static pthread_once_t ek_scratch_once = PTHREAD_ONCE_INIT;

static void ek_scratch_free(void *p) {
    ek_scratch *s = p;
    free(s->b);
    free(s);
}

static void ek_scratch_init(void) { pthread_key_create(&ek_scratch_key, ek_scratch_free); }

// Tests only (ek_test_fail_allocations): requests of this thread still to fail.
static _Thread_local int ek_failures_left;

void ek_test_fail_allocations(int count) { ek_failures_left = count > 0 ? count : 0; }

/// This thread's buffer of at least `floats` floats, or NULL when it cannot be allocated (the
/// thread then has no buffer; the next call tries again).
static float *ek_thread_buffer(long floats) {
    if (ek_failures_left > 0) {
        ek_failures_left--;
        return NULL;
    }
    pthread_once(&ek_scratch_once, ek_scratch_init);
    ek_scratch *s = pthread_getspecific(ek_scratch_key);
    if (!s) {
        s = calloc(1, sizeof *s);
        if (!s) return NULL;
        if (pthread_setspecific(ek_scratch_key, s) != 0) {
            free(s);
            return NULL;
        }
    }
    if (s->capacity < floats) {
        free(s->b);
        s->b = NULL;
        s->capacity = 0;
        long capacity = (floats + 1023) / 1024 * 1024;
        if (capacity <= 0 || (unsigned long)capacity > SIZE_MAX / sizeof(float)) return NULL;
        s->b = aligned_alloc(64, sizeof(float) * (size_t)capacity);
        if (!s->b) return NULL;
        s->capacity = capacity;
    }
    return s->b;
}

// MARK: - The product

int ek_sgemm_packed(int path, int m, int n, int k, float alpha, const float *a, int lda,
                    const float *packed, bool accumulate, float *c, int ldc) {
    if (!ek_path_supported(path)) path = EK_PATH_GENERIC;
    if (m <= 0 || n <= 0) return path;
    if (k <= 0) {
        if (!accumulate) for (int i = 0; i < m; i++) memset(c + (long)i * ldc, 0, sizeof(float) * (size_t)n);
        return path;
    }
    ek_kernel kern = ek_kernel_for(path);
    float edge[EK_MAX_MR * KC];  // the last rows of A when fewer than MR are left, zero-padded
    float tile[EK_MAX_MR * EK_MAX_NR];  // an edge tile of C, computed aside
    for (int pc = 0; pc < k; pc += KC) {
        int kc = k - pc < KC ? k - pc : KC;
        // Later K blocks add to what the first wrote.
        int add = pc > 0 || accumulate;
        for (int jc = 0; jc < n; jc += NC) {
            int nc = n - jc < NC ? n - jc : NC;
            for (int ir = 0; ir < m; ir += kern.mr) {
                int rows = m - ir < kern.mr ? m - ir : kern.mr;
                const float *ap = a + (long)ir * lda + pc;
                long ldap = lda;
                if (rows < kern.mr) {
                    for (int i = 0; i < kern.mr; i++) {
                        if (i < rows) memcpy(edge + i * kc, ap + (long)i * lda, sizeof(float) * (size_t)kc);
                        else memset(edge + i * kc, 0, sizeof(float) * (size_t)kc);
                    }
                    ap = edge;
                    ldap = kc;
                }
                for (int jr = jc; jr < jc + nc; jr += kern.nr) {
                    int cols = n - jr < kern.nr ? n - jr : kern.nr;
                    const float *bp = packed + (long)jr * k + (long)pc * kern.nr;
                    float *cp = c + (long)ir * ldc + jr;
                    if (rows == kern.mr && cols == kern.nr) {
                        kern.kernel(kc, ap, ldap, bp, cp, ldc, alpha, add);
                    } else {
                        // An edge tile: compute the whole tile aside, keep what is inside C.
                        kern.kernel(kc, ap, ldap, bp, tile, kern.nr, alpha, 0);
                        for (int i = 0; i < rows; i++) {
                            float *row = cp + (long)i * ldc;
                            const float *t = tile + i * kern.nr;
                            for (int j = 0; j < cols; j++) row[j] = (add ? row[j] : 0) + t[j];
                        }
                    }
                }
            }
        }
    }
    return path;
}

int ek_sgemm(int path, int b_transposed, int m, int n, int k, float alpha,
             const float *a, int lda, const float *b, int ldb, bool accumulate, float *c, int ldc) {
    if (!ek_path_supported(path)) path = EK_PATH_GENERIC;
    if (m <= 0 || n <= 0 || k <= 0) return ek_sgemm_packed(path, m, n, k, alpha, a, lda, 0, accumulate, c, ldc);
    float *packed = ek_thread_buffer(ek_packed_size(path, n, k));
    if (!packed) return EK_ENOMEM;
    ek_pack(path, b_transposed, n, k, b, ldb, packed);
    return ek_sgemm_packed(path, m, n, k, alpha, a, lda, packed, accumulate, c, ldc);
}
