import Coalescing
import Foundation
import Upstream

/// The worker's in-memory source cache and the single-flight table for
/// origin fetches.
///
/// A viral image is asked for in three variants by hundreds of clients
/// at once; nginx's cache lock holds back duplicates of one key, but the
/// variants are three keys. Here they become one origin fetch (the first
/// request leads, the rest wait for its bytes) and, once fetched, the
/// source stays in memory (bounded by `cache.max_bytes`, LRU) so later
/// variants and revalidations need no fetch at all.
final class SourceStore: @unchecked Sendable {
    /// What one coalesced fetch produced.
    enum FetchOutcome: Sendable {
        /// The whole response: every waiter answers from it.
        case whole(SourceResponse)
        /// Not held back (a video, a file too big): the leader streamed it
        /// to its own client; waiters fetch for themselves.
        case streamed
    }

    let fetches = Coalescer<FetchOutcome>()
    private let lock = NSLock()
    private var cache: LRUByteCache<SourceResponse>
    private let ttl: Double
    private let metrics: HerdMetrics

    init(configuration: HerdConfiguration.Cache, metrics: HerdMetrics) {
        cache = LRUByteCache(maxBytes: configuration.maxBytes, maxItemSize: configuration.maxItemSize,
                             maxEntries: configuration.maxCapacity)
        ttl = Double(configuration.ttl)
        self.metrics = metrics
    }

    enum Lookup {
        case fresh(SourceResponse)
        case stale(SourceResponse)
        case missing
    }

    func lookup(_ key: String) -> Lookup {
        lock.lock()
        let result = cache.lookup(key, now: Self.now())
        lock.unlock()
        switch result {
        case .fresh(let entry):
            metrics.sourceCache(hit: true)
            return .fresh(entry.value)
        case .stale(let entry):
            metrics.sourceCache(hit: false)
            return .stale(entry.value)
        case .missing:
            metrics.sourceCache(hit: false)
            return .missing
        }
    }

    /// Keeps a successful, cacheable origin response (not private, not no-store).
    func store(_ key: String, _ response: SourceResponse) {
        let cacheControl = (response.head.value(of: "Cache-Control") ?? "").lowercased()
        guard response.head.status == 200, !cacheControl.contains("private"), !cacheControl.contains("no-store") else { return }
        lock.lock()
        cache.store(key, value: response, size: response.body.count + 512, expiresAt: Self.now() + ttl)
        let snapshot = (bytes: cache.bytes, count: cache.count, evictions: cache.evictions)
        lock.unlock()
        metrics.sourceCacheSize(bytes: snapshot.bytes, entries: snapshot.count, evictions: snapshot.evictions)
    }

    /// The origin said 304 to a revalidation: the cached copy is good for another `ttl`.
    func refresh(_ key: String) {
        lock.lock()
        cache.refresh(key, expiresAt: Self.now() + ttl)
        lock.unlock()
    }

    static func now() -> Double {
        var time = timespec()
        clock_gettime(CLOCK_MONOTONIC, &time)
        return Double(time.tv_sec) + Double(time.tv_nsec) / 1e9
    }
}
