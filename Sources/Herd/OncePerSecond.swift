import System

/// Lets one log line a second through and counts the rest: a peer that
/// hammers a refusal cannot flood the journal, and the next line says how
/// many were left out.
final class OncePerSecond: Sendable {
    private let state = Locked<(last: Double, skipped: Int)>((-1, 0))

    /// The number of lines left out since the last one, when this one may
    /// be written; nil when it may not.
    func admit() -> Int? {
        let now = MonotonicClock.now()
        return state.withLock { state in
            guard state.last < 0 || now - state.last >= 1 else {
                state.skipped += 1
                return nil
            }
            let skipped = state.skipped
            state = (now, 0)
            return skipped
        }
    }
}
