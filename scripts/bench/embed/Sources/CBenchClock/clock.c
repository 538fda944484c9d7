#include "BenchClock.h"

#include <time.h>

double bench_thread_cpu_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
    return (double)t.tv_sec + (double)t.tv_nsec * 1e-9;
}

double bench_measure_hz(void) {
    double best = 0;
    for (int run = 0; run < 5; run++) {
        long n = 200000000, x = 0;
        double t0 = bench_thread_cpu_seconds();
#if defined(__x86_64__)
        __asm__ volatile("1:\n add $1, %0\n add $1, %0\n add $1, %0\n add $1, %0\n sub $1, %1\n jnz 1b"
                         : "+r"(x), "+r"(n));
        double adds = 4.0 * 200000000.0;
#else
        double adds = 0;
#endif
        double t = bench_thread_cpu_seconds() - t0;
        double hz = t > 0 ? adds / t : 0;
        if (hz > best) best = hz;
    }
    return best;
}
