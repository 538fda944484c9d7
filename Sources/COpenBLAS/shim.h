// OpenBLAS from Debian's libopenblas-dev: cblas_sgemm for the in-process embedder, plus
// openblas_set_num_threads for EMBEDDING_THREADS.
#include <cblas.h>
void openblas_set_num_threads(int num_threads);
int openblas_get_num_threads(void);
