// libfcgi (Debian: libfcgi-dev), exposed to Swift through the FastCGI module only.
#ifndef HERD_CFASTCGI_SHIM_H
#define HERD_CFASTCGI_SHIM_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <fcgiapp.h>
#include <fcntl.h>
#include <pthread.h>
#include <unistd.h>

// GNU extensions that Glibc's Swift overlay does not export.

/// pipe2(O_CLOEXEC): a pipe that does not leak into child processes.
static inline int herd_pipe_cloexec(int fds[_Nonnull 2]) {
    return pipe2(fds, O_CLOEXEC);
}

/// Names the calling thread (15 bytes at most), for top -H and gdb.
static inline int herd_set_thread_name(const char *_Nonnull name) {
    return pthread_setname_np(pthread_self(), name);
}

#endif
