import Foundation
import HerdTestSupport
import Testing

/// Fast first, best later, through the shipped nginx: the first answer's
/// short lifetime, the queue filled by popularity (a revalidation after
/// that lifetime), the optimized answer replacing it with the full
/// lifetime and its own ETag, byte for byte the same afterwards, and a
/// purge removing both.
@Suite("Optimizer through nginx", .serialized)
struct OptimizerTests {
    static let photo = PassthroughTests.photo
    static let water = "/system/media_attachments/files/000/000/003/original/water.jpg"

    static func stack() throws -> (AppStack, URL) {
        let store = try Paths.temporaryDirectory("optimizer-store")
        // A low target, so that the optimized AVIF is smaller than the
        // first (q60, speed 8) and kept; a one-second first lifetime.
        let stack = try AppStack(workers: 1, herdArguments: [
            "--set", "optimizer.store_dir=\(store.path)", "--set", "optimizer.first_ttl=1", "--set", "optimizer.min_bytes=1000",
            "--set", "optimizer.cpu_share=1", "--set", "image.target_quality=45",
            // Small images: the search (seven encodes, decodes and scores) is quick in a debug build.
            "--set", "image.max_dimension=320",
        ])
        return (stack, store)
    }

    /// Past `first_ttl=1` as nginx counts it (whole seconds, fresh through the last one).
    static let pastFirstLifetime = 2.2

    static func metric(_ stack: AppStack, _ name: String) throws -> Int {
        let text = try stack.get("/_herd/metrics").text
        return text.split(separator: "\n").filter { $0.hasPrefix(name) }.compactMap { line in
            line.split(separator: " ").last.flatMap { Double($0) }.map { Int($0) }
        }.reduce(0, +)
    }

    /// The worker's log without the metrics polls that fill it while a test waits.
    static func logWithoutMetrics(_ stack: AppStack) -> String {
        stack.herd.log.split(separator: "\n").filter { !$0.contains("herd.route=metrics") }.joined(separator: "\n")
    }

    static func storedFiles(_ store: URL) -> Int {
        (FileManager.default.enumerator(atPath: store.path)?.allObjects as? [String] ?? []).filter { $0.hasSuffix(".opt") }.count
    }

    @Test("first answer (short lifetime, -f ETag) → asked again → optimized, smaller, full lifetime, -o ETag, the same bytes every time; asked once: never optimized")
    func firstThenOptimized() throws {
        let (stack, store) = try Self.stack()
        defer { stack.stop() }
        let accept = [("Accept", "image/avif,image/webp,*/*")]
        let first = try stack.get(Self.photo, headers: accept)
        #expect(first.status == 200 && first.header("Content-Type") == "image/avif")
        #expect(first.header("Cache-Control") == "public, max-age=1", "\(first.header("Cache-Control") ?? "-")")
        #expect(first.header("ETag")?.hasSuffix("-f\"") == true, "\(first.header("ETag") ?? "-")")
        // Asked for once only, and never again.
        _ = try stack.get(Self.water, headers: accept)

        // After the short lifetime: nginx revalidates, herd queues it.
        // nginx counts lifetimes in whole seconds and an entry is fresh
        // through its last second: max-age=1 may last almost 2 s.
        Thread.sleep(forTimeInterval: Self.pastFirstLifetime)
        _ = try stack.get(Self.photo, headers: accept)
        #expect(Wait.until(timeout: 60) { (try? Self.metric(stack, "herd_optimizer_images_total{format=\"avif\",result=\"kept\"")) == 1 },
                "never optimized: \(Self.logWithoutMetrics(stack).suffix(3000))")
        #expect(Self.storedFiles(store) == 1)

        // The next revalidation gets the optimized answer (nginx refreshes
        // in the background: at most a few requests still see the first).
        var optimized: HTTPResponse?
        #expect(Wait.until(timeout: 20) {
            Thread.sleep(forTimeInterval: 0.3)
            guard let response = try? stack.get(Self.photo, headers: accept), response.header("ETag")?.hasSuffix("-o1q45\"") == true else { return false }
            optimized = response
            return true
        })
        let answer = try #require(optimized)
        #expect(answer.status == 200 && answer.header("Content-Type") == "image/avif")
        #expect(answer.body.count < first.body.count, "\(answer.body.count) not smaller than \(first.body.count)")
        #expect(answer.header("Cache-Control")?.contains("max-age=1") == false, "\(answer.header("Cache-Control") ?? "-")")
        #expect(answer.header("ETag") != first.header("ETag"))
        let again = try stack.get(Self.photo, headers: accept)
        #expect(again.header("X-Cache-Status") == "HIT" && again.body == answer.body)
        #expect(stack.herd.log.contains("note=optimized") && stack.herd.log.contains("note=first"))

        // water.jpg was asked for once: long expired, never queued.
        Thread.sleep(forTimeInterval: Self.pastFirstLifetime)
        #expect(try Self.metric(stack, "herd_optimizer_images_total") == 1)
        #expect(try Self.metric(stack, "herd_optimizer_queue_depth") == 0)
    }

    @Test("a purge removes both answers: the optimized one from herd's store, the cached one from nginx")
    func purgeRemovesBoth() throws {
        let (stack, store) = try Self.stack()
        defer { stack.stop() }
        let accept = [("Accept", "image/avif,*/*")]
        _ = try stack.get(Self.photo, headers: accept)
        Thread.sleep(forTimeInterval: Self.pastFirstLifetime)
        _ = try stack.get(Self.photo, headers: accept)
        #expect(Wait.until(timeout: 60) { Self.storedFiles(store) == 1 })
        #expect(Wait.until(timeout: 20) {
            Thread.sleep(forTimeInterval: 0.3)
            return (try? stack.get(Self.photo, headers: accept))?.header("ETag")?.hasSuffix("-o1q45\"") == true
        })
        let result = try PurgeTests.purge(stack, ["http://localhost\(Self.photo)"])
        #expect(result.status == 0, "\(result.output)")
        #expect(Self.storedFiles(store) == 0, "the optimized answer is still stored")
        let after = try stack.get(Self.photo, headers: accept)
        #expect(after.header("X-Cache-Status") == "MISS" && after.header("ETag")?.hasSuffix("-f\"") == true,
                "\(after.header("X-Cache-Status") ?? "-") \(after.header("ETag") ?? "-")")
    }
}
