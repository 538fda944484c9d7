// Softmax, GELU and layer norm for each kernel path: elementwise.inc compiled three times, for
// the baseline ISA and the AVX2 and AVX-512 extension lists of cpu_features.h, and chosen by the
// same path as the matrix products.
#include "EmbedKernels.h"
#include "cpu_features.h"

#include <math.h>
#include <stdint.h>
#include <string.h>

#define EK_SUFFIX generic
#define EK_TARGET
#include "elementwise.inc"
#undef EK_SUFFIX
#undef EK_TARGET

#if defined(__x86_64__)
#define EK_SUFFIX avx2
#define EK_TARGET EK_TARGET_AVX2
#include "elementwise.inc"
#undef EK_SUFFIX
#undef EK_TARGET

#define EK_SUFFIX avx512
#define EK_TARGET EK_TARGET_AVX512
#include "elementwise.inc"
#undef EK_SUFFIX
#undef EK_TARGET
#endif

void ek_softmax_rows(int path, float *x, int rows, int width) {
#if defined(__x86_64__)
    if (path == EK_PATH_AVX512 && ek_path_supported(path)) return ek_softmax_rows_avx512(x, rows, width);
    if (path == EK_PATH_AVX2 && ek_path_supported(path)) return ek_softmax_rows_avx2(x, rows, width);
#endif
    ek_softmax_rows_generic(x, rows, width);
}

void ek_gelu(int path, float *x, long count) {
#if defined(__x86_64__)
    if (path == EK_PATH_AVX512 && ek_path_supported(path)) return ek_gelu_avx512(x, count);
    if (path == EK_PATH_AVX2 && ek_path_supported(path)) return ek_gelu_avx2(x, count);
#endif
    ek_gelu_generic(x, count);
}

void ek_add_layer_norm(int path, const float *y, float *x, int rows, int width, const float *gamma,
                       const float *beta, float epsilon) {
#if defined(__x86_64__)
    if (path == EK_PATH_AVX512 && ek_path_supported(path)) return ek_add_layer_norm_avx512(y, x, rows, width, gamma, beta, epsilon);
    if (path == EK_PATH_AVX2 && ek_path_supported(path)) return ek_add_layer_norm_avx2(y, x, rows, width, gamma, beta, epsilon);
#endif
    ek_add_layer_norm_generic(y, x, rows, width, gamma, beta, epsilon);
}
