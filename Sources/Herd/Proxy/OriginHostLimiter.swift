import Synchronization

/// Caps how many of a worker's requests may wait on one origin host at once:
/// fetching from it, or waiting for another request's fetch of it.
///
/// Each such request holds a thread until the origin answers. An origin that
/// stalls (or a hostile one that answers slowly on purpose) would otherwise
/// take every thread, and requests for cached sources or for other hosts
/// would queue behind it. Over the cap a request is answered 503 at once:
/// the threads left serve everything that does not need that host.
final class OriginHostLimiter: Sendable {
    private let limit: Int
    private let waiting = Mutex<[String: Int]>([:])

    init(limit: Int) {
        self.limit = max(1, limit)
    }

    /// Takes a place for `url`'s host; false when the host has no room left.
    func enter(_ url: String) -> Bool {
        let host = Self.hostKey(url)
        return waiting.withLock { counts in
            let current = counts[host, default: 0]
            guard current < limit else { return false }
            counts[host] = current + 1
            return true
        }
    }

    func leave(_ url: String) {
        let host = Self.hostKey(url)
        waiting.withLock { counts in
            let remaining = counts[host, default: 1] - 1
            counts[host] = remaining > 0 ? remaining : nil
        }
    }

    /// Requests waiting on `url`'s host right now.
    func count(_ url: String) -> Int {
        waiting.withLock { $0[Self.hostKey(url), default: 0] }
    }

    /// `scheme://authority` of an absolute URL, lowercased: one key per host and port.
    static func hostKey(_ url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url.lowercased() }
        let authorityStart = schemeEnd.upperBound
        let rest = url[authorityStart...]
        let end = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? url.endIndex
        return url[..<end].lowercased()
    }
}
