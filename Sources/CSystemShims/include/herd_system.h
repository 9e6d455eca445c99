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

/// Names the calling thread (15 bytes at most), for top -H and gdb.
int herd_set_thread_name(const char *name);

#pragma clang assume_nonnull end

#endif
