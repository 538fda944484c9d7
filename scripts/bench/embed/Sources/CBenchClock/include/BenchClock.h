// Helpers of embed-bench's GEMM efficiency figure: the core's clock and CPU time.
#ifndef BENCH_CLOCK_H
#define BENCH_CLOCK_H

/// Cycles per second of this core, measured as a chain of dependent integer additions (one cycle
/// each) over the thread's CPU time; the best of a few runs (turbo included).
double bench_measure_hz(void);

/// CPU seconds used by the calling thread (so other processes on a shared machine do not count).
double bench_thread_cpu_seconds(void);

#endif
