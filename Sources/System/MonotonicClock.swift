#if canImport(Glibc)
import Glibc
#endif

/// Seconds on CLOCK_MONOTONIC: for deadlines and durations, which must not
/// jump when the wall clock is set.
public enum MonotonicClock {
    @inline(__always)
    public static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}

/// CPU seconds the calling thread has used (CLOCK_THREAD_CPUTIME_ID): what
/// background work spent, as opposed to how long it took.
public enum ThreadCPUClock {
    public static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_THREAD_CPUTIME_ID, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
