import Basics
import Upstream
import System

/// Remote URLs that failed a moment ago (no answer, a 5xx, a refused
/// address, too large), not fetched again for `remote.failure_ttl` seconds,
/// as Akkoma remembers them for 60 s: a dead remote whose post is being
/// boosted would otherwise be asked once per request. The failure itself is
/// kept, so the answer from memory is the first answer's (same status).
/// Bounded in entries.
public final class RemoteFailureMemory: Sendable {
    private struct Entry {
        var until: Double
        var failure: UpstreamError
    }

    /// Seconds a failure is remembered (`remote.failure_ttl`).
    public let ttl: Double
    private let limit: Int
    private let entries = Locked<[String: Entry]>([:])

    public init(ttl: Double, limit: Int = 10_000) {
        self.ttl = ttl
        self.limit = limit
    }

    public func remember(_ url: String, failure: UpstreamError) {
        guard ttl > 0 else { return }
        let now = MonotonicClock.now()
        entries.withLock { entries in
            if entries.count >= limit {
                entries = entries.filter { $0.value.until > now }
                // Still full of live entries: forget the oldest half at once
                // rather than one per insert.
                if entries.count >= limit {
                    let keep = entries.sorted { $0.value.until > $1.value.until }.prefix(limit / 2)
                    entries = Dictionary(uniqueKeysWithValues: keep.map { ($0.key, $0.value) })
                }
            }
            entries[url] = Entry(until: now + ttl, failure: failure)
        }
    }

    /// Forgets a remembered failure (`herd purge`).
    public func forget(_ url: String) {
        entries.withLock { $0[url] = nil }
    }

    /// How `url` failed, if it did within the last `ttl` seconds.
    public func recent(_ url: String) -> UpstreamError? {
        let now = MonotonicClock.now()
        return entries.withLock { entries in
            guard let entry = entries[url] else { return nil }
            if entry.until > now { return entry.failure }
            entries[url] = nil
            return nil
        }
    }
}
