import Basics
import Foundation
import HerdTestSupport
import Imaging
import Logging
import Testing
import Upstream
import Herd
@testable import Media
import Settings

/// The media path without nginx: recorded params in, a recording writer
/// out, a scripted origin behind. The integration tests prove the real
/// thing; these cover its branches one by one.
@Suite("Media path, without nginx")
struct MediaPathTests {
    static let photo = TestImages.png(TestImages.photo(width: 320, height: 200), kind: .rgb)
    static let notAnImage = Array(String(repeating: "not an image, a video perhaps. ", count: 400).utf8)

    /// A worker's request handler over `origin`, with the default configuration.
    static func handler(_ origin: ScriptedOrigin, configure: (inout HerdConfiguration) -> Void = { _ in }) -> RequestHandler {
        var configuration = HerdConfiguration()
        configuration.upstream.url = "http://origin.test/"
        configure(&configuration)
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        return RequestHandler(context: try! WorkerContext(configuration: configuration, metrics: HerdMetrics(), logger: logger),
                              origin: origin)
    }

    static func serve(_ handler: RequestHandler, _ params: RecordedParams) -> RecordingWriter {
        let writer = RecordingWriter()
        handler.handle(params: params, output: writer)
        return writer
    }

    static func imageOrigin() -> ScriptedOrigin {
        ScriptedOrigin { _ in .init(headers: [("Content-Type", "image/png"), ("ETag", "\"origin-1\""),
                                              ("Cache-Control", "public, max-age=600")], body: photo) }
    }

    // MARK: Passthrough

    @Test("passthrough: what is not an image streams as it came, with the origin's length and herd's headers")
    func passthrough() {
        let origin = ScriptedOrigin { _ in .init(headers: [("Content-Type", "video/mp4"), ("Set-Cookie", "a=b")],
                                                 body: Self.notAnImage, pieceSize: 1000) }
        let writer = Self.serve(Self.handler(origin), RecordedParams("GET", "/media/clip.mp4"))
        #expect(writer.status == 200)
        #expect(writer.body == Self.notAnImage)
        #expect(writer.header("Content-Length") == String(Self.notAnImage.count))
        #expect(writer.header("Content-Type") == "video/mp4")
        #expect(writer.header("X-Herd-Variant") == "orig")
        #expect(writer.header("Vary") == "Accept")
        #expect(writer.header("Set-Cookie") == nil)
        #expect(!writer.aborted)
        #expect(origin.asked.map(\.url) == ["http://origin.test/media/clip.mp4"])
    }

    @Test("an origin's own X-Herd-* headers (X-Herd-Source: disk, X-Herd-Variant, X-Herd-Error) never reach a client and change nothing",
          arguments: ["/media/clip.mp4", "/media/photo.png"])
    func originCannotForgeHerdHeaders(path: String) {
        let forged: HTTPHeaders = [("X-Herd-Source", "disk"), ("X-Herd-Variant", "avif"), ("X-Herd-Error", "none"),
                                   ("x-herd-anything", "1")]
        let plain = ScriptedOrigin { request in
            request.url.hasSuffix(".png") ? .init(headers: [("Content-Type", "image/png")], body: Self.photo)
                : .init(headers: [("Content-Type", "video/mp4")], body: Self.notAnImage)
        }
        let forging = ScriptedOrigin { request in
            request.url.hasSuffix(".png") ? .init(headers: [("Content-Type", "image/png")] + forged, body: Self.photo)
                : .init(headers: [("Content-Type", "video/mp4")] + forged, body: Self.notAnImage)
        }
        let accept = RecordedParams("GET", path, ["HTTP_ACCEPT": "image/webp,*/*"])
        let honest = Self.serve(Self.handler(plain), accept)
        let forgedAnswer = Self.serve(Self.handler(forging), accept)
        #expect(forgedAnswer.header("X-Herd-Source") == "origin")
        #expect(forgedAnswer.headers.filter { $0.name.lowercased().hasPrefix("x-herd-") }.count
                == honest.headers.filter { $0.name.lowercased().hasPrefix("x-herd-") }.count)
        #expect(forgedAnswer.headers.allSatisfy { $0.name != "x-herd-anything" && $0.name != "X-Herd-Error" })
        #expect(forgedAnswer.header("X-Herd-Variant") == honest.header("X-Herd-Variant"))
        #expect(forgedAnswer.status == honest.status && forgedAnswer.body == honest.body)
    }

    @Test("passthrough of a HEAD: GET's head, no body, never storable, the transfer stopped after the head")
    func passthroughHead() {
        let origin = ScriptedOrigin { _ in .init(headers: [("Content-Type", "video/mp4")], body: Self.notAnImage, pieceSize: 1000) }
        let writer = Self.serve(Self.handler(origin), RecordedParams("HEAD", "/media/clip.mp4"))
        #expect(writer.status == 200)
        #expect(writer.body.isEmpty)
        #expect(writer.header("Content-Length") == String(Self.notAnImage.count))
        #expect(writer.values("X-Accel-Expires") == ["0"])
        #expect(!writer.aborted)
    }

    @Test("the client leaves mid-stream: the response is cut short, nothing more is written")
    func clientLeaves() {
        let origin = ScriptedOrigin { _ in .init(headers: [("Content-Type", "video/mp4")], body: Self.notAnImage, pieceSize: 1000) }
        let writer = RecordingWriter()
        writer.peerGoneAfter = 2500
        Self.handler(origin).handle(params: RecordedParams("GET", "/media/clip.mp4"), output: writer)
        #expect(writer.aborted)
        #expect(writer.body.count <= 2500)
    }

    // MARK: Conversion

    @Test("conversion: the variant nginx named, herd's ETag, the origin's ETag never; the next variant from the source cache")
    func conversion() throws {
        let origin = Self.imageOrigin()
        let handler = Self.handler(origin)
        let webp = Self.serve(handler, RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "webp"]))
        #expect(webp.status == 200)
        #expect(webp.header("Content-Type") == "image/webp")
        #expect(webp.body.withUnsafeBytes(ImageFormat.sniff) == .webp)
        #expect(webp.header("Content-Length") == String(webp.body.count))
        let etag = try #require(webp.header("ETag"))
        #expect(etag.hasPrefix("\"h1-") && etag.hasSuffix("-webp\""))
        #expect(webp.header("X-Herd-Variant") == "webp")
        #expect(webp.header("Cache-Control") != nil)

        let orig = Self.serve(handler, RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "orig"]))
        #expect(orig.status == 200)
        #expect(orig.body == Self.photo)
        #expect(origin.asked.count == 1, "the second variant comes from the source cache")
    }

    @Test("304 to one of herd's ETags, answered by herd; the origin never sees herd's ETag")
    func notModified() throws {
        let origin = Self.imageOrigin()
        let handler = Self.handler(origin) { $0.cache.singleFlight = false }
        let first = Self.serve(handler, RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "webp"]))
        let etag = try #require(first.header("ETag"))
        let again = Self.serve(handler, RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "webp", "HTTP_IF_NONE_MATCH": etag]))
        #expect(again.status == 304)
        #expect(again.body.isEmpty)
        #expect(again.header("ETag") == etag)
        #expect(origin.asked.count == 2)
        #expect(origin.asked.allSatisfy { $0.headers.isEmpty })

        // The origin's own validator goes to the origin, which decides.
        _ = Self.serve(handler, RecordedParams("GET", "/media/a.png", ["HTTP_IF_NONE_MATCH": "\"origin-1\""]))
        #expect(origin.asked.last?.headers.first?.value == "\"origin-1\"")
    }

    @Test("a stale source is revalidated with the origin's validators; its 304 serves the kept bytes")
    func revalidation() {
        let origin = ScriptedOrigin { request in
            if request.headers.contains(where: { $0.name == "If-None-Match" && $0.value == "\"origin-1\"" }) {
                return .init(status: 304, headers: [("ETag", "\"origin-1\""), ("Cache-Control", "max-age=0")], body: [])
            }
            return .init(headers: [("Content-Type", "image/png"), ("ETag", "\"origin-1\""), ("Cache-Control", "max-age=0")],
                         body: Self.photo)
        }
        let handler = Self.handler(origin)
        let first = Self.serve(handler, RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "orig"]))
        let second = Self.serve(handler, RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "orig"]))
        #expect(first.body == Self.photo)
        #expect(second.status == 200)
        #expect(second.body == Self.photo)
        #expect(origin.asked.count == 2)
        #expect(origin.asked.last?.headers.contains { $0.name == "If-None-Match" && $0.value == "\"origin-1\"" } == true)
    }

    @Test("a conversion larger than the whole memory budget is never run: the original where the client can show it")
    func overMemoryBudget() {
        let origin = Self.imageOrigin()
        let writer = Self.serve(Self.handler(origin) { $0.image.memoryBudget = 1024 },
                                RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "webp"]))
        #expect(writer.status == 200)
        #expect(writer.body == Self.photo)
        #expect(writer.header("X-Herd-Variant") == "orig")
    }

    // MARK: Failures

    @Test("the origin times out before answering: 504, the reason, Vary, the short error lifetime")
    func originTimeout() {
        let origin = ScriptedOrigin { _ in .init(failBeforeHead: .timeout) }
        let writer = Self.serve(Self.handler(origin), RecordedParams("GET", "/media/a.png"))
        #expect(writer.status == 504)
        #expect(writer.header("X-Herd-Error") == "timeout")
        #expect(writer.header("Vary") == "Accept")
        #expect(writer.header("Cache-Control") == "public, max-age=5")
        #expect(writer.values("X-Accel-Expires") == ["5"])
        #expect(String(decoding: writer.body, as: UTF8.self) == "504 Gateway Timeout\n")
    }

    @Test("a failure after the head went out cuts the response short instead of a second head")
    func failureAfterHead() {
        let origin = ScriptedOrigin { _ in .init(headers: [("Content-Type", "video/mp4")], body: Self.notAnImage,
                                                 failAfterBody: .protocolError) }
        let writer = Self.serve(Self.handler(origin), RecordedParams("GET", "/media/clip.mp4"))
        #expect(writer.status == 200)
        #expect(writer.aborted)
    }

    @Test("answers the origin was not asked for (304, 206, 204) are refused with 502 and nothing of them passes")
    func unasked() {
        for status in [304, 206, 204, 201] {
            let origin = ScriptedOrigin { _ in .init(status: status, headers: [("Content-Type", "image/png")], body: []) }
            let writer = Self.serve(Self.handler(origin), RecordedParams("GET", "/media/a.png"))
            #expect(writer.status == 502, "\(status)")
            #expect(writer.header("X-Herd-Error") == "protocol", "\(status)")
        }
    }

    @Test("refusals before any fetch: method, URI, route")
    func refusals() {
        let origin = Self.imageOrigin()
        let handler = Self.handler(origin)
        let post = Self.serve(handler, RecordedParams("POST", "/media/a.png"))
        #expect(post.status == 405)
        #expect(post.header("Allow") == "GET, HEAD")
        #expect(post.header("Vary") == "Accept")
        let dots = Self.serve(handler, RecordedParams("GET", "/media/../etc/passwd"))
        #expect(dots.status == 400)
        #expect(dots.header("X-Herd-Error") == "dot_segment")
        #expect(dots.header("Vary") == nil)
        let other = Self.serve(handler, RecordedParams("GET", "/api/v1/accounts"))
        #expect(other.status == 404)
        #expect(origin.asked.isEmpty)
    }

    @Test("a corrupt image: the original, short-lived, for a client that can show it")
    func corrupt() {
        var broken = Self.photo
        broken.replaceSubrange(60..<broken.count, with: [UInt8](repeating: 0x55, count: broken.count - 60))
        let origin = ScriptedOrigin { _ in .init(headers: [("Content-Type", "image/png")], body: broken) }
        let writer = Self.serve(Self.handler(origin), RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "webp"]))
        #expect(writer.status == 200)
        #expect(writer.body == broken)
        #expect(writer.header("Cache-Control") == "public, max-age=5")
    }

    // MARK: Single flight

    @Test("single flight: waiters get the leader's bytes from one fetch, each in its own variant")
    func waiters() throws {
        let origin = Self.imageOrigin()
        origin.gate = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let handler = Self.handler(origin)
        let (joined, finished, results) = Self.together(handler, origin, source: "http://origin.test/media/a.png", requests: [
            "webp": RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "webp"]),
            "avif": RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "avif"]),
            "orig": RecordedParams("GET", "/media/a.png", ["HERD_VARIANT": "orig"]),
        ])
        #expect(joined)
        #expect(finished)
        #expect(origin.asked.count == 1)
        #expect(results.get("webp")?.header("Content-Type") == "image/webp")
        #expect(results.get("avif")?.header("Content-Type") == "image/avif")
        #expect(results.get("orig")?.body == Self.photo)
    }

    @Test("single flight: the leader's failure reaches every waiter at once, and is not remembered")
    func waitersShareFailure() {
        let origin = ScriptedOrigin { _ in .init(failBeforeHead: .connect) }
        origin.gate = DispatchSemaphore(value: 0)
        nonisolated(unsafe) let handler = Self.handler(origin)
        let requests = Dictionary(uniqueKeysWithValues: (0..<3).map { (String($0), RecordedParams("GET", "/media/b.png")) })
        let (joined, finished, results) = Self.together(handler, origin, source: "http://origin.test/media/b.png", requests: requests)
        #expect(joined)
        #expect(finished)
        #expect(origin.asked.count == 1)
        for index in 0..<3 { #expect(results.get(String(index))?.status == 502) }
        origin.gate = nil
        _ = Self.serve(handler, RecordedParams("GET", "/media/b.png"))
        #expect(origin.asked.count == 2)
    }
}

extension MediaPathTests {
    /// Serves `requests` on threads of their own while `origin` holds its one
    /// fetch at its gate, and lets the fetch go once every other request
    /// waits on it (read from the coalescer, no sleeps).
    static func together(_ handler: RequestHandler, _ origin: ScriptedOrigin, source: String,
                         requests: [String: RecordedParams]) -> (joined: Bool, finished: Bool, results: Results) {
        nonisolated(unsafe) let handler = handler
        let results = Results()
        let group = DispatchGroup()
        for (name, params) in requests {
            nonisolated(unsafe) let params = params
            group.enter()
            Thread.detachNewThread {
                results.put(name, Self.serve(handler, params))
                group.leave()
            }
        }
        let fetches = handler.context.sources.fetches
        let joined = Wait.until(timeout: 10) { fetches.waiting(for: source) == requests.count - 1 }
        origin.gate?.signal()
        return (joined, group.wait(timeout: .now() + 30) == .success, results)
    }
}

/// Writers by name, filled from several threads.
final class Results: @unchecked Sendable {
    private let lock = NSLock()
    private var writers: [String: RecordingWriter] = [:]
    func put(_ name: String, _ writer: RecordingWriter) { lock.withLock { writers[name] = writer } }
    func get(_ name: String) -> RecordingWriter? { lock.withLock { writers[name] } }
}

/// The optimizer through the media path (no nginx, no thread: the queued
/// image is optimized on the test's thread): the store's answer survives a
/// restart, and a changed target never serves what the old one made.
@Suite("Optimizer through the media path")
struct OptimizerMediaPathTests {
    static func handler(_ store: URL, target: Int, origin: ScriptedOrigin = MediaPathTests.imageOrigin()) -> RequestHandler {
        MediaPathTests.handler(origin) { configuration in
            configuration.optimizer.storeDir = store.path
            configuration.optimizer.minBytes = 100
            configuration.image.targetQuality = target
        }
    }

    static func get(_ handler: RequestHandler) -> RecordingWriter {
        MediaPathTests.serve(handler, RecordedParams("GET", "/media/photo.png", ["HTTP_ACCEPT": "image/avif,*/*"]))
    }

    @Test("first answer, asked again, optimized; a restart serves the stored answer at once; another target makes its own")
    func restartAndTarget() throws {
        let store = FileManager.default.temporaryDirectory.appendingPathComponent("herd-optimizer-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: store) }
        let handler = Self.handler(store, target: 40)
        let first = Self.get(handler)
        #expect(first.status == 200 && first.header("ETag")?.hasSuffix("-avif-f\"") == true, "\(first.header("ETag") ?? "-")")
        let optimizer = try #require(handler.context.optimizer)
        #expect(!optimizer.optimizeQueued(), "asked for once: not queued")
        #expect(Self.get(handler).header("ETag") == first.header("ETag"), "until optimized, the same first answer")
        #expect(optimizer.optimizeQueued(), "asked for again: queued")
        let optimized = Self.get(handler)
        #expect(optimized.header("ETag")?.hasSuffix("-avif-o1q40\"") == true, "\(optimized.header("ETag") ?? "-")")
        #expect(optimized.body.count < first.body.count)

        let restarted = Self.get(Self.handler(store, target: 40))
        #expect(restarted.header("ETag") == optimized.header("ETag"))
        #expect(restarted.body == optimized.body, "byte for byte what the first worker served")

        let otherTarget = Self.get(Self.handler(store, target: 90))
        #expect(otherTarget.header("ETag")?.hasSuffix("-avif-f\"") == true, "\(otherTarget.header("ETag") ?? "-")")
        #expect(otherTarget.body.count == first.body.count)
    }

    static func store() -> URL {
        FileManager.default.temporaryDirectory.appendingPathComponent("herd-optimizer-\(UUID().uuidString)")
    }

    static func origin(cacheControl: String) -> ScriptedOrigin {
        ScriptedOrigin { _ in .init(headers: [("Content-Type", "image/png"), ("Cache-Control", cacheControl)],
                                    body: MediaPathTests.photo) }
    }

    @Test("the origin's private or no-store makes no first answer; a shorter origin lifetime bounds it")
    func originLifetimes() {
        let store = Self.store()
        defer { try? FileManager.default.removeItem(at: store) }
        for value in ["private, max-age=600", "no-store"] {
            let answer = Self.get(Self.handler(store, target: 40, origin: Self.origin(cacheControl: value)))
            #expect(answer.header("ETag")?.hasSuffix("-f\"") == false && answer.header("Cache-Control") == value,
                    "\(value): \(answer.header("ETag") ?? "-") \(answer.header("Cache-Control") ?? "-")")
        }
        let short = Self.get(Self.handler(store, target: 40, origin: Self.origin(cacheControl: "public, max-age=60")))
        #expect(short.header("ETag")?.hasSuffix("-f\"") == true && short.header("Cache-Control") == "public, max-age=60")
    }

    @Test("optimized and nothing better found: from then on the answer has the full lifetime, and is not queued again")
    func notKeptGetsFullLifetime() throws {
        let store = Self.store()
        defer { try? FileManager.default.removeItem(at: store) }
        let handler = Self.handler(store, target: 100)  // unreachable
        _ = Self.get(handler)
        _ = Self.get(handler)
        let optimizer = try #require(handler.context.optimizer)
        #expect(optimizer.optimizeQueued())
        let after = Self.get(handler)
        #expect(after.header("ETag")?.hasSuffix("-f\"") == false && after.header("Cache-Control") == "public, max-age=600",
                "\(after.header("ETag") ?? "-") \(after.header("Cache-Control") ?? "-")")
        // A revalidation of the old first answer: 304 with the full lifetime, nothing queued.
        let first = try #require(Self.get(Self.handler(Self.store(), target: 100)).header("ETag"))
        let revalidated = MediaPathTests.serve(handler, RecordedParams("GET", "/media/photo.png",
                                                                       ["HTTP_ACCEPT": "image/avif,*/*", "HTTP_IF_NONE_MATCH": first]))
        #expect(revalidated.status == 304 && revalidated.header("Cache-Control") == "public, max-age=600")
        #expect(!optimizer.optimizeQueued())
    }

    @Test("an optimized answer's ETag from another target is answered in full, never renewed by a 304")
    func outdatedOptimizedTag() throws {
        let store = Self.store()
        defer { try? FileManager.default.removeItem(at: store) }
        let handler = Self.handler(store, target: 40)
        _ = Self.get(handler)
        _ = Self.get(handler)
        #expect(try #require(handler.context.optimizer).optimizeQueued())
        let optimized = try #require(Self.get(handler).header("ETag"))
        #expect(optimized.hasSuffix("-o1q40\""))
        let current = MediaPathTests.serve(handler, RecordedParams("GET", "/media/photo.png",
                                                                   ["HTTP_ACCEPT": "image/avif,*/*", "HTTP_IF_NONE_MATCH": optimized]))
        #expect(current.status == 304)
        let other = Self.handler(store, target: 60)
        let answer = MediaPathTests.serve(other, RecordedParams("GET", "/media/photo.png",
                                                                ["HTTP_ACCEPT": "image/avif,*/*", "HTTP_IF_NONE_MATCH": optimized]))
        #expect(answer.status == 200 && answer.header("ETag") != optimized, "\(String(describing: answer.status))")
    }
}

