import Coalescing
import Testing

/// The single-flight table and the byte-bounded LRU, with no I/O and no clock.
@Suite("Single flight")
struct SingleFlightTests {
    struct Failure: Error {}

    @Test("the first caller leads, the rest wait, all get the leader's value")
    func shared() {
        var machine = SingleFlightStateMachine<Int>()
        guard case .lead(let id) = machine.join("a") else { Issue.record("first must lead"); return }
        let second = machine.join("a")
        let third = machine.join("a")
        #expect(second == .wait(id))
        #expect(third == .wait(id))
        guard case .lead = machine.join("b") else { Issue.record("another key leads on its own"); return }
        let woken = machine.finish("a", id: id, outcome: .success(42))
        #expect(woken == 2)
        for _ in 0..<2 {
            guard case .success(let value) = machine.collect(id) else { Issue.record("waiter got nothing"); return }
            #expect(value == 42)
        }
        let again = machine.collect(id)
        #expect(again == nil, "collected once per waiter, then forgotten")
        #expect(machine.uncollected == 0)
    }

    @Test("a failure reaches every waiter at once and is not remembered")
    func failure() {
        var machine = SingleFlightStateMachine<Int>()
        guard case .lead(let id) = machine.join("a") else { return }
        _ = machine.join("a")
        let woken = machine.finish("a", id: id, outcome: .failure(Failure()))
        #expect(woken == 1)
        guard case .failure = machine.collect(id) else { Issue.record("the waiter must see the failure"); return }
        guard case .lead(let next) = machine.join("a") else { Issue.record("the next request must fetch again"); return }
        #expect(next != id)
    }

    @Test("a waiter that gives up does not stop the flight or leak its result")
    func abandon() {
        var machine = SingleFlightStateMachine<Int>()
        guard case .lead(let id) = machine.join("a") else { return }
        _ = machine.join("a")
        _ = machine.join("a")
        machine.abandon("a", id: id)
        let woken = machine.finish("a", id: id, outcome: .success(1))
        #expect(woken == 1)
        let collected = machine.collect(id)
        #expect(collected != nil)
        #expect(machine.uncollected == 0)
        // Giving up after the result arrived also releases it.
        guard case .lead(let second) = machine.join("b") else { return }
        _ = machine.join("b")
        machine.finish("b", id: second, outcome: .success(2))
        machine.abandon("b", id: second)
        #expect(machine.uncollected == 0)
    }
}

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
