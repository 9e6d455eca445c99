import Basics
import System

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
        /// When a fetch to this host last finished, or it last went from idle
        /// to busy (monotonic seconds).
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

    /// Requests waiting for a place, in all and per host: a freed place
    /// wakes one waiter when they all wait for that host (the usual case,
    /// one origin), every waiter otherwise.
    private var waiting = 0
    private var waitingFor: [String: Int] = [:]

    /// What a place is counted under: one origin host (`scheme://authority`),
    /// or a pool of fetches capped together (every remote host at once),
    /// which no host's key can equal.
    struct Key: Hashable, Sendable {
        let value: String
        static func host(of url: String) -> Key { Key(value: OriginHostLimiter.hostKey(url)) }
        /// Every fetch from the open internet, whatever its host.
        static let allRemoteHosts = Key(value: "")
    }

    /// Takes a place for a fetch of `url` and returns its host, to give back
    /// to `leave`; nil when the host is at the cap and stalled.
    func enter(_ url: String) -> String? {
        enter(key: .host(of: url))?.value
    }

    /// Takes a place under `key`; nil when it is at the cap and stalled.
    func enter(key keyed: Key) -> Key? {
        let key = keyed.value
        condition.lock()
        defer { condition.unlock() }
        while true {
            let now = MonotonicClock.now()
            var host = hosts[key] ?? Host(lastProgress: now)
            if host.inFlight < limit {
                // An idle host starts its stall clock now: a burst after a
                // quiet minute is not "no progress for a minute".
                if host.inFlight == 0 { host.lastProgress = now }
                host.inFlight += 1
                hosts[key] = host
                return keyed
            }
            let stalledAt = host.lastProgress + stallAfter
            if now >= stalledAt { return nil }
            waiting += 1
            waitingFor[key, default: 0] += 1
            _ = condition.wait(until: stalledAt)
            waiting -= 1
            waitingFor[key, default: 1] -= 1
            if waitingFor[key] == 0 { waitingFor[key] = nil }
        }
    }

    func leave(host key: String) { leave(key: Key(value: key)) }

    func leave(key keyed: Key) {
        let key = keyed.value
        condition.lock()
        if var host = hosts[key] {
            host.inFlight = max(0, host.inFlight - 1)
            host.lastProgress = MonotonicClock.now()
            hosts[key] = host
        }
        let forThisHost = waitingFor[key] ?? 0
        let wakeOne = forThisHost > 0 && forThisHost == waiting
        let wakeAll = !wakeOne && waiting > 0
        condition.unlock()
        // After unlocking: a waiter woken under the lock would at once block
        // again on it (measured: a futex round trip per fetch at the cap).
        if wakeOne {
            condition.signal()
        } else if wakeAll {
            condition.broadcast()
        }
    }

    /// Fetches in flight to `url`'s host right now.
    func count(_ url: String) -> Int {
        condition.lock()
        defer { condition.unlock() }
        return hosts[Self.hostKey(url)]?.inFlight ?? 0
    }

    /// `scheme://authority` of an absolute URL, lowercased: one key per host and port.
    static func hostKey(_ url: String) -> String {
        // Without Foundation's range(of:): this runs for every fetch.
        let bytes = url.utf8
        var slashes = 0
        var end = bytes.endIndex
        for index in bytes.indices {
            let byte = bytes[index]
            if slashes < 2 {
                slashes = byte == UInt8(ascii: "/") ? slashes + 1 : (slashes == 1 ? 0 : slashes)
                continue
            }
            if byte == UInt8(ascii: "/") || byte == UInt8(ascii: "?") || byte == UInt8(ascii: "#") {
                end = index
                break
            }
        }
        return String(url[..<end]).lowercased()
    }

}
