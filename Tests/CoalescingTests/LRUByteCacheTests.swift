import Coalescing
import Testing

@Suite("Byte-bounded LRU")
struct LRUByteCacheTests {
    @Test("never holds more than max bytes; evicts least recently used first")
    func bounds() {
        var cache = LRUByteCache<Int>(maxBytes: 100, maxItemSize: 60, maxEntries: 10)
        cache.store("a", value: 1, size: 40, expiresAt: 10)
        cache.store("b", value: 2, size: 40, expiresAt: 10)
        _ = cache.lookup("a", now: 0)  // a is now the most recent
        cache.store("c", value: 3, size: 40, expiresAt: 10)
        #expect(cache.bytes <= 100)
        #expect(cache.keysOldestFirst == ["a", "c"])
        #expect(cache.evictions == 1)
        let stored = cache.store("huge", value: 4, size: 61, expiresAt: 10)
        #expect(!stored, "over max_item_size")
        #expect(cache.bytes == 80)
        for index in 0..<1000 { cache.store("k\(index)", value: index, size: Int.random(in: 1...60), expiresAt: 10) }
        #expect(cache.bytes <= 100)
        #expect(cache.count <= 10)
    }

    @Test("expiry makes an entry stale, a refresh makes it fresh again")
    func expiry() {
        var cache = LRUByteCache<Int>(maxBytes: 100, maxItemSize: 100, maxEntries: 10)
        cache.store("a", value: 1, size: 10, expiresAt: 5)
        guard case .fresh = cache.lookup("a", now: 4) else { Issue.record("fresh before expiry"); return }
        guard case .stale = cache.lookup("a", now: 6) else { Issue.record("stale after expiry"); return }
        cache.refresh("a", expiresAt: 20)
        guard case .fresh = cache.lookup("a", now: 6) else { Issue.record("fresh after refresh"); return }
        guard case .missing = cache.lookup("b", now: 0) else { Issue.record("missing"); return }
    }

    @Test("the entry cap holds too")
    func entryCap() {
        var cache = LRUByteCache<Int>(maxBytes: 1_000, maxItemSize: 100, maxEntries: 3)
        for index in 0..<5 { cache.store("k\(index)", value: index, size: 1, expiresAt: 10) }
        #expect(cache.keysOldestFirst == ["k2", "k3", "k4"])
    }
}
