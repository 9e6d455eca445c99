#define _GNU_SOURCE
#include "herd_system.h"

#include <fcntl.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/socket.h>
#include <unistd.h>

int herd_pipe_cloexec(int fds[2]) {
    return pipe2(fds, O_CLOEXEC);
}

int herd_accept_cloexec(int listener) {
    return accept4(listener, NULL, NULL, SOCK_CLOEXEC);
}

int herd_set_thread_name(const char *name) {
    return pthread_setname_np(pthread_self(), name);
}
