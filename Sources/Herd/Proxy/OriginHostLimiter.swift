import Basics

/// Caps how many of a worker's fetches may be in flight to one origin host
/// while that host is stalled.
///
/// Each fetch holds a thread until the origin answers (and the requests
/// coalesced on it hold theirs). An origin that stalls, or a hostile one that
/// answers slowly on purpose, would otherwise take every thread, and
/// requests for cached sources or for other hosts would queue behind it.
///
/// Under the cap a fetch starts at once. At the cap it waits for a place,
/// which for a healthy origin frees within milliseconds, so a burst is never
/// refused however large. But a host that has finished no fetch for
/// `stallAfter` seconds is stalled: a fetch over the cap is then refused at
/// once (503), and a request never waits for a place longer than that.
/// (Progress is a fetch finishing, not a fetch's age: a long video streams
/// for minutes from a healthy origin.)
final class OriginHostLimiter: @unchecked Sendable {
    private struct Host {
        var inFlight = 0
        /// When a fetch to this host last finished, or the host was first
        /// used (monotonic seconds).
        var lastProgress: Double
    }

    private let condition = ConditionLock()
    private let limit: Int
    private let stallAfter: Double
    private var hosts: [String: Host] = [:]

    init(limit: Int, stallAfter: Double = 5) {
        self.limit = max(1, limit)
        self.stallAfter = stallAfter
    }

    /// Takes a place for a fetch of `url`; false when its host is at the cap
    /// and stalled.
    func enter(_ url: String) -> Bool {
        let key = Self.hostKey(url)
        condition.lock()
        defer { condition.unlock() }
        while true {
            let now = MonotonicClock.now()
            var host = hosts[key] ?? Host(lastProgress: now)
            if host.inFlight < limit {
                host.inFlight += 1
                hosts[key] = host
                return true
            }
            let stalledAt = host.lastProgress + stallAfter
            if now >= stalledAt { return false }
            _ = condition.wait(until: stalledAt)
        }
    }

    func leave(_ url: String) {
        let key = Self.hostKey(url)
        condition.lock()
        if var host = hosts[key] {
            host.inFlight = max(0, host.inFlight - 1)
            host.lastProgress = MonotonicClock.now()
            hosts[key] = host
        }
        condition.broadcast()
        condition.unlock()
    }

    /// Fetches in flight to `url`'s host right now.
    func count(_ url: String) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return hosts[Self.hostKey(url)]?.inFlight ?? 0
    }

    /// `scheme://authority` of an absolute URL, lowercased: one key per host and port.
    static func hostKey(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url.lowercased() }
        let rest = url[schemeEnd.upperBound...]
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex
        return url[..<end].lowercased()
    }

}
