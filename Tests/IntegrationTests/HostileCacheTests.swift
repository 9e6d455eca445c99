import Foundation
import HerdTestSupport
import Testing

/// Hostile *clients* against the shipped media cache: what one client asks
/// for must never change what the next one gets. Real nginx with
/// herd/mastodon.conf or herd/akkoma.conf, one herd worker, and an origin
/// (HostileOrigin) serving a real JPEG at every media path.
@Suite("Hostile clients: HEAD and Range against the media cache", .serialized)
struct HostileCacheTests {
    static let jpeg = TestImages.jpeg(TestImages.photo(width: 160, height: 120))

    /// Every media location of each flavour (Mastodon: each /system/ folder herd serves, and /media_proxy/).
    static let mastodonPaths = [
        "/system/media_attachments/files/000/000/101/original/head.jpg",
        "/system/accounts/avatars/000/000/101/original/head.jpg",
        "/system/accounts/headers/000/000/101/original/head.jpg",
        "/system/custom_emojis/images/000/000/101/original/head.jpg",
        "/system/preview_cards/images/000/000/101/original/head.jpg",
        "/system/site_uploads/files/000/000/101/original/head.jpg",
        "/system/cache/media_attachments/files/000/000/101/original/head.jpg",
        "/media_proxy/101/original",
    ]
    static let akkomaPaths = [
        "/media/ab/cd/head.jpg",
        "/proxy/c2lnbmF0dXJl/aHR0cHM6Ly9yZW1vdGUuZXhhbXBsZS9oZWFkLmpwZw/head.jpg",
    ]

    static func imageOrigin() throws -> HostileOrigin {
        let origin = try HostileOrigin()
        origin.onPrefix("/", [.send(HostileOrigin.response(headers: [
            ("Content-Type", "image/jpeg"), ("Last-Modified", "Tue, 01 Oct 2024 10:00:00 GMT"),
        ], body: jpeg)), .keepOpen])
        return origin
    }

    @Test("Mastodon: HEAD on an uncached image, then GET, in every /system/ folder and /media_proxy/, each variant: the GET has the whole body, equal to a fresh GET")
    func headThenGetMastodon() throws {
        try headThenGet(.mastodon, paths: Self.mastodonPaths)
    }

    @Test("Akkoma: HEAD on an uncached image, then GET, on /media/ and /proxy/, each variant: the GET has the whole body, equal to a fresh GET")
    func headThenGetAkkoma() throws {
        try headThenGet(.akkoma, paths: Self.akkomaPaths)
    }

    private func headThenGet(_ flavor: AppStack.Flavor, paths: [String]) throws {
        let origin = try Self.imageOrigin()
        defer { origin.stop() }
        let stack = try AppStack(flavor, upstreamURL: origin.url)
        defer { stack.stop() }
        for path in paths {
            for (accept, variant) in Hostile.variants {
                let label = "\(path) \(variant)"
                let head = try FramedHTTP.request(port: stack.port, method: "HEAD", target: path, headers: [("Accept", accept)])
                #expect(head.status == 200, "HEAD \(label): \(Hostile.describe(head))")
                #expect(head.body.isEmpty, "HEAD \(label) carries no body")

                let get = try FramedHTTP.request(port: stack.port, target: path, headers: [("Accept", accept)])
                let fresh = try FramedHTTP.request(port: stack.port, target: path,
                                                   headers: [("Accept", accept), ("Authorization", "Bearer x")])
                #expect(fresh.status == 200 && !fresh.body.isEmpty && fresh.complete, "fresh GET \(label): \(Hostile.describe(fresh))")
                var problems: [String] = []
                if get.status != 200 || get.body.isEmpty || !get.complete || get.header("Content-Length") != String(get.body.count) {
                    problems.append("the GET after HEAD lacks its body: \(Hostile.describe(get))")
                } else if get.body != fresh.body {
                    problems.append("the GET after HEAD differs from a fresh GET (\(fresh.body.count) bytes): \(Hostile.describe(get))")
                }
                // What nginx stored under the key every GET shares.
                let key = Hostile.cacheKey(path, variant: variant)
                for entry in NginxCacheEntry.all(in: stack.directory.appendingPathComponent("cache")) where entry.key == key {
                    if entry.status != 200 || entry.body != fresh.body {
                        problems.append("nginx stored status \(entry.status) with \(entry.body.count) body bytes (a fresh GET has \(fresh.body.count))")
                    }
                }
                let hit = try FramedHTTP.request(port: stack.port, target: path, headers: [("Accept", accept)])
                if hit.header("X-Cache-Status") != "HIT" || hit.body != fresh.body || !hit.complete {
                    problems.append("the next GET: \(Hostile.describe(hit))")
                }
                #expect(problems.isEmpty, "HEAD then GET, \(label): \(problems.joined(separator: "; "))")
            }
        }
    }

    @Test("a HEAD on a cached image answers the GET's headers without a body; the entry is untouched")
    func headOnCached() throws {
        let origin = try Self.imageOrigin()
        defer { origin.stop() }
        let stack = try AppStack(upstreamURL: origin.url)
        defer { stack.stop() }
        let path = Self.mastodonPaths[0]
        for (accept, variant) in Hostile.variants {
            let get = try FramedHTTP.request(port: stack.port, target: path, headers: [("Accept", accept)])
            #expect(get.status == 200 && get.complete && !get.body.isEmpty, "\(variant): \(Hostile.describe(get))")
            let head = try FramedHTTP.request(port: stack.port, method: "HEAD", target: path, headers: [("Accept", accept)])
            #expect(head.status == 200 && head.body.isEmpty, "\(variant): \(Hostile.describe(head))")
            #expect(head.header("Content-Length") == String(get.body.count), "\(variant)")
            let again = try FramedHTTP.request(port: stack.port, target: path, headers: [("Accept", accept)])
            let same = again.body == get.body
            #expect(again.header("X-Cache-Status") == "HIT" && same, "\(variant): \(Hostile.describe(again))")
        }
    }

    @Test("an unsatisfiable Range (416) or a failed If-Match (412) on a cached image: Cache-Control absent, no-store or at most 60 s (both flavours, every media location)")
    func unsatisfiableRange() throws {
        let cases: [(AppStack.Flavor, [String])] = [
            (.mastodon, ["/system/media_attachments/files/000/000/102/original/range.jpg", "/media_proxy/102/original"]),
            (.akkoma, ["/media/ab/cd/range.jpg", "/proxy/c2ln/aHR0cHM6Ly9yL3IuanBn/range.jpg"]),
        ]
        for (flavor, paths) in cases {
            let origin = try Self.imageOrigin()
            defer { origin.stop() }
            let stack = try AppStack(flavor, upstreamURL: origin.url)
            defer { stack.stop() }
            for path in paths {
                for (accept, variant) in Hostile.variants where variant != "webp" {
                    let label = "\(flavor) \(path) \(variant)"
                    let first = try FramedHTTP.request(port: stack.port, target: path, headers: [("Accept", accept)])
                    #expect(first.status == 200, "\(label): \(Hostile.describe(first))")
                    let cached = try FramedHTTP.request(port: stack.port, target: path, headers: [("Accept", accept)])
                    #expect(cached.header("X-Cache-Status") == "HIT", "\(label): \(Hostile.describe(cached))")
                    let range = try FramedHTTP.request(port: stack.port, target: path,
                                                       headers: [("Accept", accept), ("Range", "bytes=999999999-")])
                    #expect(range.status == 416, "\(label): \(Hostile.describe(range))")
                    #expect(Hostile.isShortLived(range.cacheControl),
                            "416 \(label) must not carry the entry's lifetime: Cache-Control: \(range.cacheControl ?? "-")")
                    // A failed precondition nginx answers from the entry (412) is not stored either.
                    let failed = try FramedHTTP.request(port: stack.port, target: path,
                                                        headers: [("Accept", accept), ("If-Match", "\"not-this-one\"")])
                    #expect(failed.status == 412, "\(label): \(Hostile.describe(failed))")
                    #expect(Hostile.isShortLived(failed.cacheControl),
                            "412 \(label) must not carry the entry's lifetime: Cache-Control: \(failed.cacheControl ?? "-")")
                    // A satisfiable range still works and the entry is intact.
                    let part = try FramedHTTP.request(port: stack.port, target: path, headers: [("Accept", accept), ("Range", "bytes=0-9")])
                    let partOK = part.status == 206 && part.body == Array(cached.body.prefix(10))
                    #expect(partOK, "\(label): \(Hostile.describe(part))")
                    let after = try FramedHTTP.request(port: stack.port, target: path, headers: [("Accept", accept)])
                    let afterOK = after.status == 200 && after.body == cached.body
                    #expect(afterOK, "\(label): \(Hostile.describe(after))")
                }
            }
        }
    }
}
