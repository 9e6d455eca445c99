import Foundation
import Imaging
import Testing
@testable import Media

@Suite("Optimizer: the queue (popularity) and the store on disk")
struct OptimizationTests {
    static func key(_ source: String, _ variant: String = "avif") -> OptimizationKey {
        OptimizationKey(source: source, tag: "h1-\(source)-\(variant)")
    }

    @Test("popularity: the first sighting is remembered, the next queues; an answer nobody asks for again is never queued")
    func popularity() {
        var queue = OptimizationQueue<String>(capacity: 4, memory: 100)
        #expect(queue.sighted(Self.key("a"), job: { "job a" }) == .remembered)
        #expect(queue.sighted(Self.key("b"), job: { "job b" }) == .remembered)
        #expect(queue.depth == 0, "nothing queued on first sight")
        #expect(queue.sighted(Self.key("a"), job: { "job a" }) == .queued)
        #expect(queue.sighted(Self.key("a"), job: { "job a" }) == .pending, "queued once")
        #expect(queue.depth == 1)
        let next = queue.next()
        #expect(next?.0 == Self.key("a") && next?.1 == "job a")
        #expect(queue.sighted(Self.key("a"), job: { "job a" }) == .pending, "running")
        queue.finished(Self.key("a"), kept: true)
        #expect(queue.outcome(Self.key("a")) == .kept)
        #expect(queue.sighted(Self.key("a"), job: { "job a" }) == .settled, "done once: not again")
        #expect(queue.next() == nil, "b was asked for once only")
    }

    @Test("bounded: a full queue refuses (and remembers), the oldest remembered answers are forgotten first")
    func bounds() {
        var queue = OptimizationQueue<Int>(capacity: 2, memory: 3)
        for index in 0..<3 {
            _ = queue.sighted(Self.key("s\(index)"), job: { index })
            #expect(queue.sighted(Self.key("s\(index)"), job: { index }) == (index < 2 ? .queued : .queueFull))
        }
        #expect(queue.depth == 2)
        // Memory 3: a fourth and fifth remembered push the oldest out.
        for name in ["m1", "m2", "m3", "m4"] { _ = queue.sighted(Self.key(name), job: { 0 }) }
        #expect(queue.sighted(Self.key("m1"), job: { 0 }) == .remembered, "forgotten, so first sight again")
        var made = false
        #expect(queue.sighted(Self.key("m4"), job: { made = true; return 0 }) == .queueFull)
        #expect(!made, "no job made while the queue is full")
    }

    @Test("a purge forgets the source: its answers are new again, waiting work dropped")
    func forget() {
        var queue = OptimizationQueue<Int>(capacity: 4, memory: 100)
        _ = queue.sighted(Self.key("p"), job: { 1 })
        _ = queue.sighted(Self.key("p"), job: { 1 })
        _ = queue.sighted(Self.key("p", "webp"), job: { 2 })
        queue.forget(source: "p")
        #expect(queue.depth == 0)
        #expect(queue.sighted(Self.key("p", "webp"), job: { 2 }) == .remembered)
    }

    static func directory() throws -> String {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("herd-store-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    @Test("the store: what is put comes back byte for byte, after a restart too; a purge removes every variant of its source")
    func store() throws {
        let path = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try OptimizedStore(directory: path, maxBytes: 1 << 20)
        let body = (0..<5000).map { UInt8($0 % 251) }
        store.put(Self.key("x"), body: body, format: .avif, quality: 41, score: 80.5)
        store.put(Self.key("x", "webp"), body: Array(body.prefix(100)), format: .webp, quality: 60, score: 81)
        store.put(Self.key("y"), body: [1, 2, 3], format: .avif, quality: 30, score: 90)
        let answer = try #require(store.answer(for: Self.key("x")))
        #expect(answer.body == body && answer.outputFormat == .avif && answer.entry.quality == 41)
        #expect(store.answer(for: Self.key("z")) == nil)

        let restarted = try OptimizedStore(directory: path, maxBytes: 1 << 20)
        #expect(restarted.entryCount == 3 && restarted.answer(for: Self.key("x"))?.body == body, "kept across a restart")
        #expect(restarted.remove(source: "x") == 2)
        #expect(restarted.answer(for: Self.key("x")) == nil && restarted.answer(for: Self.key("x", "webp")) == nil)
        #expect(restarted.answer(for: Self.key("y"))?.body == [1, 2, 3])
    }

    @Test("the store's bytes cap: the least recently served go first")
    func cap() throws {
        let path = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try OptimizedStore(directory: path, maxBytes: 3 * 1200)
        let body = [UInt8](repeating: 7, count: 1000)
        store.put(Self.key("a"), body: body, format: .avif, quality: 1, score: 1)
        store.put(Self.key("b"), body: body, format: .avif, quality: 1, score: 1)
        store.put(Self.key("c"), body: body, format: .avif, quality: 1, score: 1)
        _ = store.answer(for: Self.key("a"))  // a served: b is now the oldest
        store.put(Self.key("d"), body: body, format: .avif, quality: 1, score: 1)
        #expect(store.totalBytes <= 3 * 1200)
        #expect(store.answer(for: Self.key("b")) == nil, "least recently served, evicted")
        #expect(store.answer(for: Self.key("a")) != nil && store.answer(for: Self.key("d")) != nil)
    }

    @Test("a damaged entry (cut short, a byte changed, another key's file) is never served, and removed", arguments: ["truncate", "flip", "swap"])
    func corruption(damage: String) throws {
        let path = try Self.directory()
        defer { try? FileManager.default.removeItem(atPath: path) }
        let store = try OptimizedStore(directory: path, maxBytes: 1 << 20)
        let body = (0..<3000).map { UInt8($0 % 253) }
        store.put(Self.key("k"), body: body, format: .webp, quality: 50, score: 80)
        store.put(Self.key("other"), body: Array(body.reversed()), format: .webp, quality: 50, score: 80)
        let file = store.path(for: Self.key("k"))
        var bytes = try [UInt8](Data(contentsOf: file))
        switch damage {
        case "truncate": bytes.removeLast(100)
        case "flip": bytes[bytes.count - 10] ^= 0x40
        default: bytes = try [UInt8](Data(contentsOf: store.path(for: Self.key("other"))))
        }
        try Data(bytes).write(to: file)
        #expect(store.answer(for: Self.key("k")) == nil)
        #expect(!FileManager.default.fileExists(atPath: file.path), "removed")
        #expect(store.corruptEntries == 1)
        #expect(store.answer(for: Self.key("other"))?.body == Array(body.reversed()), "the other entry is fine")
    }

    @Test("the waiting jobs are bounded in bytes too (their sources)")
    func byteBound() {
        var queue = OptimizationQueue<[UInt8]>(capacity: 10, memory: 100, maxBytes: 1000, weight: { $0.count })
        for name in ["a", "b", "c"] {
            _ = queue.sighted(Self.key(name), job: { [UInt8](repeating: 0, count: 400) })
        }
        #expect(queue.sighted(Self.key("a"), job: { [UInt8](repeating: 0, count: 400) }) == .queued)
        #expect(queue.sighted(Self.key("b"), job: { [UInt8](repeating: 0, count: 400) }) == .queued)
        #expect(queue.sighted(Self.key("c"), job: { [UInt8](repeating: 0, count: 400) }) == .queueFull, "1200 > 1000 bytes")
        _ = queue.next()
        #expect(queue.sighted(Self.key("c"), job: { [UInt8](repeating: 0, count: 400) }) == .queued)
    }

    @Test("a write told that its source was purged meanwhile writes nothing")
    func putUnlessPurged() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("herd-store-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: directory) }
        let store = try OptimizedStore(directory: directory.path, maxBytes: 1 << 20)
        #expect(!store.put(Self.key("p"), body: [1, 2, 3], format: .avif, quality: 1, score: 1, unless: { true }))
        #expect(store.answer(for: Self.key("p")) == nil && store.entryCount == 0)
        #expect(store.put(Self.key("p"), body: [1, 2, 3], format: .avif, quality: 1, score: 1))
        // A temporary file left by a write cut short is removed at start.
        let stray = directory.appendingPathComponent("x/.dat.nosync1.tmp")
        try FileManager.default.createDirectory(at: stray.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data([1]).write(to: stray)
        _ = try OptimizedStore(directory: directory.path, maxBytes: 1 << 20)
        #expect(!FileManager.default.fileExists(atPath: stray.path))
    }
}

