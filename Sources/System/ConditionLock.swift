#if canImport(Glibc)
import Glibc
#endif

/// A mutex with a condition variable, for the few places that must wait
/// (the connection queue, the conversion limiter, single flight, the origin
/// host cap). Where nothing waits, use `Locked` (not `Synchronization.Mutex`:
/// see there why).
///
/// The pthread objects live in memory of their own, allocated once: their
/// address never moves (a `pthread_mutex_t` stored in a class's `var` and
/// passed as `&mutex` has no such promise in Swift; swift-nio's `NIOLock`
/// allocates for the same reason). Waits are timed on CLOCK_MONOTONIC.
/// Every return code is checked; debug builds use an error-checking mutex,
/// so unlocking a lock that is not held traps instead of corrupting state.
public final class ConditionLock: @unchecked Sendable {
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let condition: UnsafeMutablePointer<pthread_cond_t>

    public init() {
        mutex = .allocate(capacity: 1)
        condition = .allocate(capacity: 1)
        var mutexAttributes = pthread_mutexattr_t()
        pthread_mutexattr_init(&mutexAttributes)
        #if DEBUG
        pthread_mutexattr_settype(&mutexAttributes, Int32(PTHREAD_MUTEX_ERRORCHECK))
        #endif
        Self.check(pthread_mutex_init(mutex, &mutexAttributes), "pthread_mutex_init")
        pthread_mutexattr_destroy(&mutexAttributes)
        var conditionAttributes = pthread_condattr_t()
        pthread_condattr_init(&conditionAttributes)
        Self.check(pthread_condattr_setclock(&conditionAttributes, CLOCK_MONOTONIC), "pthread_condattr_setclock")
        Self.check(pthread_cond_init(condition, &conditionAttributes), "pthread_cond_init")
        pthread_condattr_destroy(&conditionAttributes)
    }

    deinit {
        Self.check(pthread_cond_destroy(condition), "pthread_cond_destroy")
        Self.check(pthread_mutex_destroy(mutex), "pthread_mutex_destroy")
        condition.deallocate()
        mutex.deallocate()
    }

    public func lock() {
        Self.check(pthread_mutex_lock(mutex), "pthread_mutex_lock")
    }

    public func unlock() {
        Self.check(pthread_mutex_unlock(mutex), "pthread_mutex_unlock")
    }

    @inline(__always)
    public func withLock<T>(_ body: () throws -> T) rethrows -> T {
        lock()
        defer { unlock() }
        return try body()
    }

    /// With the lock held: releases it until signalled, then takes it again.
    /// Wakeups can be spurious: check the condition in a loop.
    public func wait() {
        Self.check(pthread_cond_wait(condition, mutex), "pthread_cond_wait")
    }

    /// `wait()`, giving up at `deadline` (MonotonicClock seconds). Returns
    /// false when the deadline passed.
    public func wait(until deadline: Double) -> Bool {
        guard deadline.isFinite else { wait(); return true }
        let seconds = deadline.rounded(.down)
        var time = timespec(tv_sec: Int(max(0, seconds)), tv_nsec: Int((deadline - seconds) * 1e9))
        let result = pthread_cond_timedwait(condition, mutex, &time)
        if result == ETIMEDOUT { return false }
        Self.check(result, "pthread_cond_timedwait")
        return true
    }

    public func signal() {
        Self.check(pthread_cond_signal(condition), "pthread_cond_signal")
    }

    public func broadcast() {
        Self.check(pthread_cond_broadcast(condition), "pthread_cond_broadcast")
    }

    private static func check(_ result: Int32, _ call: StaticString) {
        precondition(result == 0, "\(call) failed: \(result)")
    }
}
