import CSystemShims
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
    /// Bounds what glibc's malloc keeps: a fixed mmap threshold (see
    /// herd_fix_malloc_mmap_threshold) and capped arenas (see
    /// herd_limit_malloc_arenas); honours MALLOC_MMAP_THRESHOLD_ and
    /// MALLOC_ARENA_MAX set in the environment.
    public static func tuneMalloc(arenas: Int) {
        if getenv("MALLOC_MMAP_THRESHOLD_") == nil {
            // Measured (eight concurrent 40 MP sources, 4 slots): peak RSS
            // stays with the conversion running instead of the sum of every
            // arena's freed images.
            _ = herd_fix_malloc_mmap_threshold(1 << 20)
        }
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        _ = herd_limit_malloc_arenas(Int32(max(2, arenas)))
    }

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
