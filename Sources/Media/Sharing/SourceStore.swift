import Basics
import Coalescing
import Upstream
import System
import Settings

/// The worker's in-memory source cache and the single-flight table for
/// origin fetches.
///
/// A viral image is asked for in three variants by hundreds of clients
/// at once; nginx's cache lock holds back duplicates of one key, but the
/// variants are three keys. Here they become one origin fetch (the first
/// request leads, the rest wait for its bytes) and, once fetched, the
/// source stays in memory (bounded by `cache.max_bytes`, LRU) so later
/// variants and revalidations need no fetch at all.
final class SourceStore: Sendable {
    /// What one coalesced fetch produced.
    enum FetchOutcome: Sendable {
        /// The whole response: every waiter answers from it.
        case whole(SourceResponse)
        /// Not held back (a video, a file too big): the leader streamed it
        /// to its own client; waiters fetch for themselves.
        case streamed
    }

    let fetches = Coalescer<FetchOutcome>()
    private let cache: Locked<LRUByteCache<SourceResponse>>
    private let ttl: Double
    private let metrics: any MediaMetrics

    init(configuration: HerdConfiguration.Cache, metrics: any MediaMetrics) {
        cache = Locked(LRUByteCache(maxBytes: configuration.maxBytes, maxItemSize: configuration.maxItemSize,
                                   maxEntries: configuration.maxCapacity))
        ttl = Double(configuration.ttl)
        self.metrics = metrics
    }

    enum Lookup {
        case fresh(SourceResponse)
        case stale(SourceResponse)
        case missing
    }

    func lookup(_ key: String) -> Lookup {
        let result = cache.withLock { $0.lookup(key, now: MonotonicClock.now()) }
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

    /// Keeps a successful, cacheable origin response (not private, not
    /// no-store) for `cache.ttl`, or the origin's own lifetime when shorter:
    /// after it, the copy is revalidated with the origin before use
    /// (`no-cache`: every time).
    func store(_ key: String, _ response: SourceResponse) {
        guard response.head.status == 200, !response.head.closeDelimited,
              !CacheControl.forbidsSharedCache(response.head.value(of: "Cache-Control")) else { return }
        let lifetime = min(ttl, Double(ResponseHeaders.originMaxAge(response.head) ?? Int(ttl)))
        let snapshot = cache.withLock { cache in
            cache.store(key, value: response, size: response.body.count + 512, expiresAt: MonotonicClock.now() + lifetime)
            return (bytes: cache.bytes, count: cache.count, evictions: cache.evictions)
        }
        metrics.sourceCacheSize(bytes: snapshot.bytes, entries: snapshot.count, evictions: snapshot.evictions)
    }

    /// Forgets a source (`herd purge`: the file changed or was deleted).
    /// True when there was one.
    @discardableResult
    func remove(_ key: String) -> Bool {
        cache.withLock { cache in
            if case .missing = cache.lookup(key, now: 0) { return false }
            cache.remove(key)
            return true
        }
    }

    /// The origin said 304 to a revalidation: the cached copy is good for
    /// another lifetime (the 304's own, when it gave one).
    func refresh(_ key: String, lifetime: Int? = nil) {
        let seconds = min(ttl, Double(lifetime ?? Int(ttl)))
        cache.withLock { $0.refresh(key, expiresAt: MonotonicClock.now() + seconds) }
    }

}
