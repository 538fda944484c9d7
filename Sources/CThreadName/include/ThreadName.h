// Names of OS threads, for the embedder's compute threads (visible in `top -H`, perf and tests).
// A C shim because Swift cannot call these: glibc declares pthread_setname_np/getname_np only
// under _GNU_SOURCE, which Swift's Glibc module is not built with. Kept apart from CEmbedKernels,
// which is arithmetic only.
#ifndef INGEST_THREAD_NAME_H
#define INGEST_THREAD_NAME_H

/// Names the calling thread; Linux keeps at most 15 bytes, so longer names are cut. Returns 0 or
/// an errno value.
int ingest_set_thread_name(const char *name);

/// Copies the calling thread's name into `buffer` (NUL-terminated). Returns 0 or an errno value.
int ingest_thread_name(char *buffer, int size);

#endif
