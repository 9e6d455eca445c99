#define _GNU_SOURCE
#include <string.h>
#include <linux/openat2.h>
#include <sys/syscall.h>
#include <spawn.h>
#include "herd_system.h"

#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <sys/epoll.h>
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

int herd_epoll_create(void) {
    return epoll_create1(EPOLL_CLOEXEC);
}

int herd_epoll_add(int epoll, int fd, int oneshot) {
    struct epoll_event event = { .events = EPOLLIN | (oneshot ? EPOLLONESHOT : 0), .data = { .fd = fd } };
    return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event);
}

int herd_epoll_rearm(int epoll, int fd) {
    struct epoll_event event = { .events = EPOLLIN | EPOLLONESHOT, .data = { .fd = fd } };
    return epoll_ctl(epoll, EPOLL_CTL_MOD, fd, &event);
}

int herd_epoll_remove(int epoll, int fd) {
    return epoll_ctl(epoll, EPOLL_CTL_DEL, fd, NULL);
}

int herd_epoll_wait(int epoll, int *ready, int capacity, int timeout_ms) {
    struct epoll_event events[64];
    if (capacity > 64) capacity = 64;
    int count = epoll_wait(epoll, events, capacity, timeout_ms);
    for (int i = 0; i < count; i++) ready[i] = events[i].data.fd;
    return count;
}

int herd_fix_malloc_mmap_threshold(int bytes) {
    return mallopt(M_MMAP_THRESHOLD, bytes);
}

int herd_limit_malloc_arenas(int arenas) {
    return mallopt(M_ARENA_MAX, arenas);
}

int herd_spawn_close_from(void *actions, int from) {
    return posix_spawn_file_actions_addclosefrom_np((posix_spawn_file_actions_t *)actions, from);
}

int herd_open_beneath(int root_fd, const char *path) {
    struct open_how how;
    memset(&how, 0, sizeof how);
    how.flags = O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY;
    how.resolve = RESOLVE_BENEATH | RESOLVE_NO_MAGICLINKS;
    return (int)syscall(SYS_openat2, root_fd, path, &how, sizeof how);
}
