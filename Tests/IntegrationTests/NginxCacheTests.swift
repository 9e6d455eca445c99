import Foundation
import Testing
import HerdTestSupport

/// The shipped nginx configuration, behaving as the design says, in front
/// of a stand-in Mastodon/Akkoma that counts what reaches it.
@Suite("nginx microcache and media cache", .serialized)
struct NginxCacheTests {
    static let status = "/users/alice/statuses/1"
    static let activityJSON = "application/activity+json"
    static let ldJSON = "application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\""
    static let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

    @Test("HTML, activity+json and ld+json on one status: two origin requests, then three HITs with the right bodies")
    func variantKeys() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        var first: [String: HTTPResponse] = [:]
        for accept in [Self.html, Self.activityJSON, Self.ldJSON] {
            first[accept] = try stack.get(Self.status, headers: [("Accept", accept)])
        }
        #expect(try stack.originCount(Self.status) == 2, "the two JSON-LD types share the activitypub bucket")
        #expect(first[Self.ldJSON]?.header("X-Cache-Status") == "HIT")
        for accept in [Self.html, Self.activityJSON, Self.ldJSON] {
            let response = try stack.get(Self.status, headers: [("Accept", accept)])
            #expect(response.header("X-Cache-Status") == "HIT", "\(accept)")
            #expect(response.body == first[accept]?.body)
            let isJSON = accept != Self.html
            #expect(response.header("Content-Type")?.contains(isJSON ? "activity+json" : "text/html") == true)
            #expect(response.header("X-Cache-Variant") == (isJSON ? "activitypub" : "html"))
        }
        #expect(try stack.originCount(Self.status) == 2)
    }

    /// Signed requests are no longer bypassed: they share the cache where
    /// the app says an answer is shared (FederationCacheTests).
    @Test("Cookie, Authorization and POST bypass and store nothing")
    func bypasses() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let cases: [(String, String, [(String, String)])] = [
            ("/users/alice/statuses/11", "GET", [("Cookie", "_mastodon_session=abc")]),
            ("/users/alice/statuses/12", "GET", [("Authorization", "Bearer token")]),
            ("/users/alice/statuses/14", "POST", [("Content-Length", "0")]),
        ]
        for (path, method, headers) in cases {
            let bypassed = try stack.get(path, method: method, headers: [("Accept", Self.activityJSON)] + headers)
            // nginx does not even look up a POST (only GET and HEAD are cacheable).
            let expected: String? = method == "POST" ? nil : "BYPASS"
            #expect(bypassed.header("X-Cache-Status") == expected, "\(path) \(headers)")
            // Nothing was stored: a plain request right after is a MISS.
            let plain = try stack.get(path, headers: [("Accept", Self.activityJSON)])
            #expect(plain.header("X-Cache-Status") == "MISS", "\(path): the bypassed answer must not be stored")
        }
    }

    @Test("a Set-Cookie response is never served to another client; private API never cached, public API cached")
    func cookiesAndAPI() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let path = "/users/alice/statuses/21?cookie=1"
        let first = try stack.get(path, headers: [("Accept", Self.html)])
        #expect(first.header("Set-Cookie") != nil)
        let second = try stack.get(path, headers: [("Accept", Self.html)])
        #expect(second.header("X-Cache-Status") != "HIT")
        #expect(second.header("Set-Cookie") != first.header("Set-Cookie"), "another client's cookie was replayed")
        #expect(try stack.originCount("/users/alice/statuses/21") == 2)

        for _ in 0..<2 { _ = try stack.get("/api/v1/timelines/home") }
        #expect(try stack.get("/api/v1/timelines/home").header("X-Cache-Status") == "BYPASS")
        #expect(try stack.originCount("/api/v1/timelines/home") == 3)

        _ = try stack.get("/api/v1/instance")
        #expect(try stack.get("/api/v1/instance").header("X-Cache-Status") == "HIT")
        #expect(try stack.originCount("/api/v1/instance") == 1)
        // A private answer is not stored either.
        _ = try stack.get("/users/alice/statuses/22?cc=private", headers: [("Accept", Self.html)])
        #expect(try stack.get("/users/alice/statuses/22?cc=private", headers: [("Accept", Self.html)]).header("X-Cache-Status") == "MISS")
    }

    @Test("followers and following are never cached; the streaming API upgrades to a WebSocket")
    func collectionsAndStreaming() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        for path in ["/users/alice/followers", "/users/alice/following"] {
            for _ in 0..<3 { _ = try stack.get(path, headers: [("Accept", Self.activityJSON)]) }
            #expect(try stack.originCount(path) == 3, "\(path)")
        }
        let upgrade = try stack.get("/api/v1/streaming?stream=public", headers: [
            ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ], timeout: 5)
        #expect(upgrade.status == 101)
        #expect(upgrade.header("Upgrade")?.lowercased() == "websocket")
    }

    @Test("cache lock: 100 concurrent cold requests for one status → 1 origin request")
    func cacheLock() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let path = "/users/alice/statuses/31?delay=0.5"
        let results = ResultsBox()
        let group = DispatchGroup()
        for _ in 0..<100 {
            group.enter()
            Thread {
                results.append(Result { try stack.get(path, headers: [("Accept", Self.activityJSON)]) })
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        #expect(results.all.compactMap { try? $0.get() }.filter { $0.status == 200 }.count == 100)
        #expect(try stack.originCount("/users/alice/statuses/31") == 1)
    }

    @Test("with the origin stopped: expired pages are served STALE, cached assets and media still served, not 502")
    func staleWhenOriginDown() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let asset = "/packs/js/application-3f2a.js"
        let media = "/system/media_attachments/files/000/000/001/original/photo.jpg"
        // A status's HTML lives at /@user/ID (/users/…/statuses/ID redirects there, as Mastodon's routes do).
        let page = "/@alice/1"
        _ = try stack.get(page, headers: [("Accept", Self.html)])
        _ = try stack.get(asset)
        _ = try stack.get(media, headers: [("Accept", "image/avif,image/webp,*/*")])
        stack.origin.stop()
        #expect(try stack.get(asset).header("X-Cache-Status") == "HIT")
        let cachedMedia = try stack.get(media, headers: [("Accept", "image/avif,image/webp,*/*")])
        #expect(cachedMedia.status == 200)
        #expect(cachedMedia.header("X-Cache-Status") == "HIT")
        // The page's 10 s lifetime runs out; the origin is still down.
        Thread.sleep(forTimeInterval: 11)
        let stale = try stack.get(page, headers: [("Accept", Self.html)])
        #expect(stale.status == 200)
        #expect(stale.header("X-Cache-Status") == "STALE")
    }

    @Test("media: each browser gets its variant from herd, HIT the second time, HIT with a session cookie; ranges from cache")
    func mediaVariants() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let media = "/system/media_attachments/files/000/000/001/original/photo.jpg"
        let browsers: [(String, String)] = [
            ("image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8", "avif"),
            ("image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5", "avif"),
            ("image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5", "webp"),
            ("*/*", "orig"),
        ]
        for (accept, variant) in browsers {
            let first = try stack.get(media, headers: [("Accept", accept)])
            #expect(first.header("X-Herd-Variant") == variant, "\(accept)")
            #expect(first.header("X-Cache-Variant") == variant)
            let second = try stack.get(media, headers: [("Accept", accept)])
            #expect(second.header("X-Cache-Status") == "HIT")
            #expect(second.body == first.body)
            let withCookie = try stack.get(media, headers: [("Accept", accept), ("Cookie", "_mastodon_session=abc")])
            #expect(withCookie.header("X-Cache-Status") == "HIT", "a session cookie must not bypass the media cache")
        }
        #expect(try stack.originCount(media) == 1, "avif, webp and orig from one origin fetch (herd's source cache)")
        let full = try stack.get(media, headers: [("Accept", "*/*")])
        let range = try stack.get(media, headers: [("Accept", "*/*"), ("Range", "bytes=0-99")])
        #expect(range.status == 206)
        #expect(range.header("X-Cache-Status") == "HIT")
        #expect(range.body == Array(full.body[0..<100]))
        #expect(try stack.originCount(media) == 1)
    }

    @Test("a federation burst: 1000 requests over 10 s to one status in 3 variants → at most 3 × (10 s / TTL + 1) origin requests")
    func federationBurst() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        // Mastodon answers all three at /@user/ID (its HTML is not at /users/…/statuses/ID).
        let path = "/@alice/41"
        let accepts = [Self.activityJSON, Self.ldJSON, Self.html, "application/json"]
        let started = Date()
        let results = ResultsBox()
        let group = DispatchGroup()
        for worker in 0..<10 {
            group.enter()
            Thread {
                for index in 0..<100 {
                    // Pace: request n of this thread at n × 100 ms.
                    let due = started.addingTimeInterval(Double(index) * 0.1 + Double(worker) * 0.01)
                    let wait = due.timeIntervalSinceNow
                    if wait > 0 { Thread.sleep(forTimeInterval: wait) }
                    let accept = accepts[(worker + index) % 3]
                    results.append(Result { try stack.get(path, headers: [("Accept", accept)]) })
                }
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 60) == .success)
        let responses = results.all.compactMap { try? $0.get() }
        #expect(responses.count == 1000)
        #expect(responses.allSatisfy { $0.status == 200 })
        let origin = try stack.originCount(path)
        let bound = 3 * (10 / 10 + 1)
        print("federation burst: 1000 requests in \(String(format: "%.1f", Date().timeIntervalSince(started))) s → \(origin) origin requests (bound \(bound))")
        #expect(origin <= bound)
    }

    @Test("the Akkoma aggregator: uploads and proxied media through herd, the app through the microcache")
    func akkoma() throws {
        let stack = try AppStack(.akkoma)
        defer { stack.stop() }
        let upload = try stack.get("/media/2f/8a/kite.jpg", headers: [("Accept", "image/webp,*/*")])
        #expect(upload.header("X-Herd-Variant") == "webp")
        #expect(try stack.get("/media/2f/8a/kite.jpg", headers: [("Accept", "image/webp,*/*")]).header("X-Cache-Status") == "HIT")
        // Akkoma's own public files are stored; its ActivityPub is private (Plug's default), never.
        _ = try stack.get("/static/terms-of-service.html")
        #expect(try stack.get("/static/terms-of-service.html").header("X-Cache-Status") == "HIT")
        _ = try stack.get("/objects/abc", headers: [("Accept", Self.activityJSON)])
        #expect(try stack.get("/objects/abc", headers: [("Accept", Self.activityJSON)]).header("X-Cache-Status") == "MISS")
    }

    @Test("abusive user agents get no answer (444); an app that is down and not cached gets the 502 page")
    func extras() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        #expect(throws: HTTPClientError.self) {
            try stack.get("/about", headers: [("User-Agent", "Mozilla/5.0 (compatible; Bytespider; spider-feedback@bytedance.com)")])
        }
        #expect(try stack.get("/about").status == 200)
        stack.origin.stop()
        let down = try stack.get("/users/alice/statuses/99", headers: [("Accept", Self.html)])
        #expect(down.status == 502)
        #expect(down.text.contains("Back in a moment"))
        #expect(down.header("Cache-Control") == "no-store")
        #expect(down.header("X-Cache-Status") != nil)
    }
}
