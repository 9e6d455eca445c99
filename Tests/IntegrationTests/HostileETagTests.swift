import Foundation
import HerdTestSupport
import Testing

/// An origin that gives two different images the same ETag (a server that
/// derives ETags from mtime and size, or a hostile one): each URL must still
/// get its own image, its own herd ETag, and no 304 for the other's.
@Suite("Hostile origin: two images under one ETag", .serialized)
struct HostileETagTests {
    static let sharedETag = "\"6543a1b2-2c93d\""
    /// Different sizes, so the output's dimensions say which source it came from.
    static let wide = TestImages.jpeg(TestImages.photo(width: 480, height: 320))
    static let tall = TestImages.jpeg(TestImages.photo(width: 320, height: 480))

    static func path(_ name: String, _ round: Int) -> String {
        "/system/media_attachments/files/000/000/\(300 + round)/original/\(name).jpg"
    }

    static func origin() throws -> HostileOrigin {
        let origin = try HostileOrigin()
        origin.onPrefix("/system/") { request in
            let isWide = request.path.hasSuffix("/wide.jpg")
            return [.send(HostileOrigin.response(headers: [
                ("Content-Type", "image/jpeg"), ("ETag", sharedETag), ("Last-Modified", "Tue, 01 Oct 2024 10:00:00 GMT"),
            ], body: isWide ? wide : tall)), .keepOpen]
        }
        return origin
    }

    struct Answer {
        let name: String
        let variant: String
        let response: FramedResponse?
        let error: String?
    }

    final class Answers: @unchecked Sendable {
        private let lock = NSLock()
        private var items: [Answer] = []
        func append(_ answer: Answer) { lock.lock(); items.append(answer); lock.unlock() }
        var all: [Answer] { lock.lock(); defer { lock.unlock() }; return items }
    }

    /// Fires every (source, variant) `copies` times at once, for the URLs of `round`.
    static func burst(port: UInt16, round: Int, copies: Int, extraHeaders: [(String, String)] = []) -> [Answer] {
        let answers = Answers()
        let group = DispatchGroup()
        for copy in 0..<copies {
            for (accept, variant) in Hostile.variants {
                for name in copy % 2 == 0 ? ["wide", "tall"] : ["tall", "wide"] {
                    group.enter()
                    Thread {
                        do {
                            let response = try FramedHTTP.request(port: port, target: path(name, round),
                                                                  headers: [("Accept", accept)] + extraHeaders, timeout: 60)
                            answers.append(Answer(name: name, variant: variant, response: response, error: nil))
                        } catch {
                            answers.append(Answer(name: name, variant: variant, response: nil, error: "\(error)"))
                        }
                        group.leave()
                    }.start()
                }
            }
        }
        _ = group.wait(timeout: .now() + 120)
        return answers.all
    }

    /// Each answer is its own source's image: same dimensions (and for the
    /// original, the same bytes). Returns the herd ETags seen per (source, variant).
    static func check(_ answers: [Answer], label: String) -> [String: Set<String>] {
        var etags: [String: Set<String>] = [:]
        var wrong: [String] = []
        for answer in answers {
            guard let response = answer.response else {
                Issue.record("\(label) \(answer.name) \(answer.variant): no answer: \(answer.error ?? "")")
                continue
            }
            #expect(response.status == 200 && response.complete, "\(label) \(answer.name) \(answer.variant): \(Hostile.describe(response))")
            guard response.status == 200 else { continue }
            let expected = answer.name == "wide" ? (480, 320) : (320, 480)
            let got = Hostile.dimensions(response.body)
            if got?.width != expected.0 || got?.height != expected.1 {
                wrong.append("\(answer.name) \(answer.variant) got \(got.map { "\($0.width)×\($0.height)" } ?? "no image") "
                             + "(\(response.header("X-Herd-Variant") ?? "-"), ETag \(response.header("ETag") ?? "-"))")
            }
            if answer.variant == "orig", response.header("X-Herd-Variant") == "orig" {
                let own = response.body == (answer.name == "wide" ? wide : tall)
                #expect(own, "\(label) \(answer.name) orig: the source's own bytes")
            }
            if let etag = response.header("ETag") { etags["\(answer.name)|\(answer.variant)", default: []].insert(etag) }
        }
        #expect(wrong.isEmpty, "\(label): \(wrong.count) of \(answers.count) answers are the other image: \(wrong.prefix(8).joined(separator: "; "))")
        return etags
    }

    static func checkDistinctETags(_ etags: [String: Set<String>], label: String) {
        for (_, variant) in Hostile.variants {
            // herd's own ETags (an original passed through keeps the origin's, which the origin chose).
            let wide = (etags["wide|\(variant)"] ?? []).filter { $0.contains("\"h1-") }
            let tall = (etags["tall|\(variant)"] ?? []).filter { $0.contains("\"h1-") }
            #expect(wide.isDisjoint(with: tall), "\(label) \(variant): both images answered with ETag \(wide.intersection(tall).sorted())")
        }
    }

    @Test("straight to a worker: concurrent requests for two images with one origin ETag each get their own image and ETag; no 304 for the other's ETag")
    func straightToWorker() throws {
        let origin = try Self.origin()
        defer { origin.stop() }
        // Enough threads that a burst of 12 is never refused as too many fetches from one origin host.
        let stack = try Stack(.init(herdArguments: ["--threads", "32"], upstreamURL: origin.url))
        defer { stack.stop() }
        var etags: [String: Set<String>] = [:]
        for round in 0..<4 {
            // Cold: both sources fetched and converted at the same moment.
            etags.merge(Self.check(Self.burst(port: stack.nginxPort, round: round, copies: 2), label: "cold round \(round)")) { $0.union($1) }
            // Warm (sources in herd's memory): conversions only, again at once.
            etags.merge(Self.check(Self.burst(port: stack.nginxPort, round: round, copies: 2), label: "warm round \(round)")) { $0.union($1) }
        }
        Self.checkDistinctETags(etags, label: "straight to a worker")

        // A conditional request with the wide image's ETag, for the tall one.
        for (accept, variant) in Hostile.variants {
            let wide = try FramedHTTP.request(port: stack.nginxPort, target: Self.path("wide", 0), headers: [("Accept", accept)])
            guard let etag = wide.header("ETag") else { Issue.record("no ETag on wide \(variant)"); continue }
            // An original passed through keeps the origin's ETag, which the origin gave both: only herd's own ETags must differ.
            guard etag.contains("\"h1-") else { continue }
            let tall = try FramedHTTP.request(port: stack.nginxPort, target: Self.path("tall", 0),
                                              headers: [("Accept", accept), ("If-None-Match", etag)])
            #expect(tall.status != 304, "tall \(variant) answered 304 for the wide image's ETag \(etag)")
            if tall.status == 200 {
                let size = Hostile.dimensions(tall.body)
                #expect(size?.width == 320 && size?.height == 480, "tall \(variant) with the wide image's ETag: \(Hostile.describe(tall))")
            }
            // Its own ETag still gets a 304.
            let own = try FramedHTTP.request(port: stack.nginxPort, target: Self.path("wide", 0),
                                             headers: [("Accept", accept), ("If-None-Match", etag)])
            #expect(own.status == 304, "wide \(variant) with its own ETag: \(Hostile.describe(own))")
        }
        #expect(stack.herd.isRunning)
    }

    @Test("through nginx's media cache: cold concurrent misses and the HITs after them are each their own image; conditionals never cross")
    func throughNginx() throws {
        let origin = try Self.origin()
        defer { origin.stop() }
        let stack = try AppStack(upstreamURL: origin.url)
        defer { stack.stop() }
        var etags: [String: Set<String>] = [:]
        for round in 0..<4 {
            // nginx's lock lets one request per key through: the two images'
            // misses (three variants each) reach herd together.
            etags.merge(Self.check(Self.burst(port: stack.port, round: round, copies: 1), label: "miss round \(round)")) { $0.union($1) }
            let hits = Self.burst(port: stack.port, round: round, copies: 1)
            for answer in hits {
                #expect(answer.response?.header("X-Cache-Status") == "HIT", "round \(round) \(answer.name) \(answer.variant)")
            }
            etags.merge(Self.check(hits, label: "HIT round \(round)")) { $0.union($1) }
        }
        Self.checkDistinctETags(etags, label: "through nginx")

        // What nginx stored: each key holds its own image.
        for entry in NginxCacheEntry.all(in: stack.directory.appendingPathComponent("cache")) where entry.key.contains("/original/") {
            let isWide = entry.key.contains("/wide.jpg")
            let size = Hostile.dimensions(entry.body)
            #expect(size?.width == (isWide ? 480 : 320) && size?.height == (isWide ? 320 : 480),
                    "stored \(entry.key): \(size.map { "\($0.width)×\($0.height)" } ?? "no image")")
        }

        // nginx answers conditionals from the entry; herd on a bypass. Neither
        // may say 304 to the tall image for the wide image's ETag.
        for (accept, variant) in Hostile.variants {
            let wide = try FramedHTTP.request(port: stack.port, target: Self.path("wide", 0), headers: [("Accept", accept)])
            guard let etag = wide.header("ETag") else { Issue.record("no ETag on wide \(variant)"); continue }
            guard etag.contains("\"h1-") else { continue }
            for bypass in [false, true] {
                let headers = [("Accept", accept), ("If-None-Match", etag)] + (bypass ? [("Authorization", "Bearer x")] : [])
                let tall = try FramedHTTP.request(port: stack.port, target: Self.path("tall", 0), headers: headers)
                #expect(tall.status != 304, "tall \(variant)\(bypass ? " (bypass, herd answers)" : " (nginx answers)") answered 304 for the wide image's ETag \(etag)")
            }
        }
    }
}
