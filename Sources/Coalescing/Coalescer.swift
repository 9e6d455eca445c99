import Basics
import System

/// Single flight for blocking callers (herd's worker threads): one caller
/// per key does the work, the others wait for its result until a deadline.
/// The state machine decides; this class only locks, waits and wakes.
public final class Coalescer<Value: Sendable>: @unchecked Sendable {
    private let condition = ConditionLock()
    private var machine = SingleFlightStateMachine<Value>()

    public init() {}

    public enum Result {
        case value(Value, coalesced: Bool)
        case failure(any Error, coalesced: Bool)
        /// The deadline passed while waiting for another caller's work.
        case timedOut
    }

    /// How many callers wait on the work for `key` now.
    public func waiting(for key: String) -> Int {
        condition.withLock { machine.waiters(for: key) }
    }

    /// Runs `work` unless another caller is already running it for `key`,
    /// in which case it waits (until `deadline`, monotonic seconds) and
    /// returns that caller's result. `work` runs without the lock held, and
    /// its result is handed to waiters whatever happens to the caller's
    /// own client.
    public func run(_ key: String, deadline: Double, work: () -> Swift.Result<Value, any Error>) -> Result {
        condition.lock()
        let action = machine.join(key)
        condition.unlock()

        switch action {
        case .lead(let id):
            let result = work()
            condition.lock()
            switch result {
            case .success(let value): machine.finish(key, id: id, outcome: .success(value))
            case .failure(let error): machine.finish(key, id: id, outcome: .failure(error))
            }
            condition.broadcast()
            condition.unlock()
            switch result {
            case .success(let value): return .value(value, coalesced: false)
            case .failure(let error): return .failure(error, coalesced: false)
            }
        case .wait(let id):
            condition.lock()
            defer { condition.unlock() }
            while true {
                if let outcome = machine.collect(id) {
                    switch outcome {
                    case .success(let value): return .value(value, coalesced: true)
                    case .failure(let error): return .failure(error, coalesced: true)
                    }
                }
                if MonotonicClock.now() >= deadline || !condition.wait(until: deadline) {
                    if let outcome = machine.collect(id) {
                        switch outcome {
                        case .success(let value): return .value(value, coalesced: true)
                        case .failure(let error): return .failure(error, coalesced: true)
                        }
                    }
                    machine.abandon(key, id: id)
                    return .timedOut
                }
            }
        }
    }

}
