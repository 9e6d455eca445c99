import CSystemShims
#if canImport(Glibc)
import Glibc
#endif

private final class ThreadBody {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// Starts a detached pthread running `body`.
public func spawnThread(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
    let context = Unmanaged.passRetained(ThreadBody(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let result = pthread_create(&thread, &attributes, { raw in
        let box = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        _ = herd_set_thread_name(String(box.name.prefix(15)))
        box.body()
        return nil
    }, context)
    if result != 0 {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        throw SystemError("pthread_create", errno: result)
    }
}


/// Puts the calling thread at the lowest normal priority: SCHED_BATCH
/// (no wake-up preemption of other threads) at nice 19 (a weight of 15
/// against a request thread's 1024: about 1.5 % of a contended core).
/// Not SCHED_IDLE: a SCHED_IDLE thread preempted while it holds a lock a
/// request needs (the limiter's, the queue's) can keep it waiting for the
/// better part of a second on a busy host — a priority inversion.
/// False when the kernel refuses (a seccomp filter, a container).
@discardableResult
public func runOnlyWhenIdle() -> Bool {
    var parameters = sched_param()
    parameters.sched_priority = 0
    let batch = sched_setscheduler(0, 3 /* SCHED_BATCH */, &parameters) == 0
    // setpriority(PRIO_PROCESS, 0) acts on the calling thread on Linux.
    let nice = setpriority(__priority_which_t(0) /* PRIO_PROCESS */, 0, 19) == 0
    return batch && nice
}
