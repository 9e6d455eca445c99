import Foundation

/// Bounds conversions: at most `slots` run at once (one per core by
/// default, so encoders do not fight over CPUs), at most `queueLimit`
/// wait, and the rest are refused at once (503) instead of piling up.
final class ConversionLimiter: @unchecked Sendable {
    enum Admission { case granted, queueFull, timedOut }

    private let condition = NSCondition()
    private let slots: Int
    private let queueLimit: Int
    private var running = 0
    private var waiting = 0

    init(slots: Int, queueLimit: Int) {
        self.slots = max(1, slots)
        self.queueLimit = max(0, queueLimit)
    }

    /// Waits for a slot for at most `timeout` seconds.
    func acquire(timeout: Double) -> Admission {
        condition.lock()
        defer { condition.unlock() }
        if running < slots {
            running += 1
            return .granted
        }
        guard waiting < queueLimit else { return .queueFull }
        waiting += 1
        defer { waiting -= 1 }
        let deadline = Date(timeIntervalSinceNow: timeout)
        while running >= slots {
            if !condition.wait(until: deadline) { return .timedOut }
        }
        running += 1
        return .granted
    }

    func release() {
        condition.lock()
        running -= 1
        condition.signal()
        condition.unlock()
    }
}
