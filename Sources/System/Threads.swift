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


/// Puts the calling thread in SCHED_IDLE: the kernel runs it only when no
/// other thread wants the CPU, so background work never delays a request.
/// False when the kernel refuses (a seccomp filter, a container).
@discardableResult
public func runOnlyWhenIdle() -> Bool {
    var parameters = sched_param()
    parameters.sched_priority = 0
    return sched_setscheduler(0, 5 /* SCHED_IDLE */, &parameters) == 0
}
