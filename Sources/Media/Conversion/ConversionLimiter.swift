import Basics
import System

/// Bounds conversions in number and in bytes: at most `slots` run at once
/// (one per core by default, so encoders do not fight over CPUs), together
/// they may need at most `memoryBudget` bytes at their peaks (estimated from
/// the header before decoding: `MemoryEstimate`), at most `queueLimit` wait
/// for either, and the rest are refused at once (503) instead of piling up.
final class ConversionLimiter: @unchecked Sendable {
    enum Admission: Equatable {
        case granted
        case queueFull
        case timedOut
        /// This one conversion needs more than the whole budget: it can never run.
        case overBudget
    }

    private let condition = ConditionLock()
    private let slots: Int
    private let queueLimit: Int
    let memoryBudget: Int
    private var running = 0
    private var waiting = 0
    private(set) var bytesInUse = 0

    init(slots: Int, queueLimit: Int, memoryBudget: Int = .max) {
        self.slots = max(1, slots)
        self.queueLimit = max(0, queueLimit)
        self.memoryBudget = max(1, memoryBudget)
    }

    /// Waits for a slot and `bytes` of the budget for at most `timeout` seconds.
    func acquire(bytes: Int = 0, timeout: Double) -> Admission {
        guard bytes <= memoryBudget else { return .overBudget }
        condition.lock()
        defer { condition.unlock() }
        if fits(bytes) {
            take(bytes)
            return .granted
        }
        guard waiting < queueLimit else { return .queueFull }
        waiting += 1
        defer { waiting -= 1 }
        let deadline = MonotonicClock.now() + timeout
        while !fits(bytes) {
            if !condition.wait(until: deadline) { return .timedOut }
        }
        take(bytes)
        return .granted
    }

    /// Runs `work` once admitted with `bytes`, and gives the place back:
    /// `overBudget()` for a conversion that can never fit, a 503 refusal when
    /// the queue is full or the wait ran out. Image conversions and previews
    /// are admitted alike.
    func run<Value>(bytes: Int, timeout: Double, overBudget: () -> Value, _ work: () -> Value) -> Result<Value, any Error> {
        switch acquire(bytes: bytes, timeout: timeout) {
        case .granted: break
        case .queueFull, .timedOut: return .failure(Refusal(status: 503, reason: "conversion_queue_full"))
        case .overBudget: return .success(overBudget())
        }
        defer { release(bytes: bytes) }
        return .success(work())
    }

    func release(bytes: Int = 0) {
        condition.lock()
        running -= 1
        bytesInUse -= bytes
        // Waiters need different amounts: every one looks again.
        condition.broadcast()
        condition.unlock()
    }

    /// Memory for background work (the optimizer), without a slot: granted
    /// only when no request waits and `bytes` fits beside what runs, so a
    /// request never waits behind it for longer than one optimization.
    func reserveIdle(bytes: Int) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        guard waiting == 0, bytesInUse + bytes <= memoryBudget else { return false }
        bytesInUse += bytes
        return true
    }

    /// Whether a request converts or waits to: background work steps aside.
    var isBusy: Bool {
        condition.lock()
        defer { condition.unlock() }
        return running > 0 || waiting > 0
    }

    func unreserve(bytes: Int) {
        condition.lock()
        bytesInUse -= bytes
        condition.broadcast()
        condition.unlock()
    }

    private func fits(_ bytes: Int) -> Bool {
        running < slots && bytesInUse + bytes <= memoryBudget
    }

    private func take(_ bytes: Int) {
        running += 1
        bytesInUse += bytes
    }
}
