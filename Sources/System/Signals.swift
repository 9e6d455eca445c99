#if canImport(Glibc)
import Glibc
#endif

/// SIGTERM and SIGINT delivered synchronously to one waiting thread.
///
/// `block()` must run before any other thread starts, so that every thread
/// inherits the mask and the signals can only be taken by `wait()`; no signal
/// handler runs, so nothing async-signal-unsafe can happen in one. SIGPIPE is
/// ignored: a write to a connection nginx closed must fail with EPIPE, not kill
/// the worker.
public enum ShutdownSignals {
    public static func block() {
        signal(SIGPIPE, SIG_IGN)
        var set = Self.set()
        pthread_sigmask(SIG_BLOCK, &set, nil)
    }

    /// Blocks until SIGTERM or SIGINT arrives; returns its name.
    public static func wait() -> String {
        var set = Self.set()
        var received: Int32 = 0
        while sigwait(&set, &received) != 0 {}
        return received == SIGTERM ? "SIGTERM" : "SIGINT"
    }

    private static func set() -> sigset_t {
        var set = sigset_t()
        sigemptyset(&set)
        sigaddset(&set, SIGTERM)
        sigaddset(&set, SIGINT)
        return set
    }
}
