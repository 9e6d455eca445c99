import CSystemShims
#if canImport(Glibc)
import Glibc
#endif

/// glibc's malloc, told at start what a worker with many threads and
/// large, short-lived images needs.
public enum MallocTuning {
    /// Bounds what glibc's malloc keeps: a fixed mmap threshold (see
    /// herd_fix_malloc_mmap_threshold) and capped arenas (see
    /// herd_limit_malloc_arenas); honours MALLOC_MMAP_THRESHOLD_ and
    /// MALLOC_ARENA_MAX set in the environment.
    public static func apply(arenas: Int) {
        if getenv("MALLOC_MMAP_THRESHOLD_") == nil {
            // Measured (eight concurrent 40 MP sources, 4 slots): peak RSS
            // stays with the conversion running instead of the sum of every
            // arena's freed images.
            _ = herd_fix_malloc_mmap_threshold(1 << 20)
        }
        guard getenv("MALLOC_ARENA_MAX") == nil else { return }
        _ = herd_limit_malloc_arenas(Int32(max(2, arenas)))
    }
}
