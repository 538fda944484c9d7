#define _GNU_SOURCE
#include "ThreadName.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>

int ingest_set_thread_name(const char *name) {
#if defined(__APPLE__)
    return pthread_setname_np(name);
#else
    // pthread_setname_np refuses (ERANGE) rather than cuts a name over 15 bytes.
    char short_name[16];
    snprintf(short_name, sizeof short_name, "%s", name);
    return pthread_setname_np(pthread_self(), short_name);
#endif
}

int ingest_thread_name(char *buffer, int size) {
    if (size <= 0) return EINVAL;
    buffer[0] = 0;
    return pthread_getname_np(pthread_self(), buffer, (size_t)size);
}
