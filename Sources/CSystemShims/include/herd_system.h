// GNU extensions of glibc that its Swift overlay does not export (they need
// _GNU_SOURCE, which must not leak into the headers Swift imports: it would
// change how Glibc's own types look to the Swift module).
#ifndef HERD_SYSTEM_H
#define HERD_SYSTEM_H

#pragma clang assume_nonnull begin

/// pipe2(O_CLOEXEC): a pipe that does not leak into child processes.
int herd_pipe_cloexec(int fds[_Nonnull 2]);

/// accept4(SOCK_CLOEXEC): the accepted connection stays blocking (it does not
/// inherit the listening socket's O_NONBLOCK) and does not leak into children.
int herd_accept_cloexec(int listener);

/// epoll, reduced to what the FastCGI server needs. Worker threads wait
/// on one epoll set themselves. A descriptor added with `oneshot` is
/// reported to one thread once, then disarmed until `herd_epoll_rearm`:
/// one connection, one worker at a time, with no hand-over between threads.
int herd_epoll_create(void);
int herd_epoll_add(int epoll, int fd, int oneshot);
int herd_epoll_rearm(int epoll, int fd);
int herd_epoll_remove(int epoll, int fd);
/// Waits up to `timeout_ms` (-1: forever) and writes up to `capacity` ready
/// descriptors to `ready`; returns how many, or -1 with errno.
int herd_epoll_wait(int epoll, int *ready, int capacity, int timeout_ms);

/// Caps glibc's malloc arenas. Each thread otherwise gets an arena of its
/// own (up to 8 per core), and memory an encoder frees in one of them is
/// kept there: with dozens of worker threads, RSS grows several-fold.
int herd_limit_malloc_arenas(int arenas);

/// Fixes glibc's mmap threshold. By default it rises to the size of the
/// largest block freed (up to 32 MB), after which decoded images come from
/// the arenas and their memory stays with the process when freed; fixed,
/// every image buffer is its own mapping and goes back to the OS on free.
int herd_fix_malloc_mmap_threshold(int bytes);

/// posix_spawn_file_actions_addclosefrom_np(actions, from): the child
/// closes every descriptor from `from` up, whatever a library opened
/// without close-on-exec. `actions` is a `posix_spawn_file_actions_t *`.
int herd_spawn_close_from(void *actions, int from);

/// Names the calling thread (15 bytes at most), for top -H and gdb.
int herd_set_thread_name(const char *name);

/// openat2(2) of `path` below the directory `root_fd` only (RESOLVE_BENEATH:
/// no `..` above it, no absolute path, no symlink leading out of it;
/// RESOLVE_NO_MAGICLINKS: no /proc links), read-only, non-blocking (a FIFO
/// cannot hang the open), close-on-exec, no controlling terminal. The file
/// descriptor, or -1 with errno (EXDEV/ELOOP: it leads outside the root;
/// ENOSYS: a kernel before 5.6).
int herd_open_beneath(int root_fd, const char *_Nonnull path);

#pragma clang assume_nonnull end

#endif
