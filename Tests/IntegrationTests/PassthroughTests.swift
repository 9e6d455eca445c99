import Foundation
import Testing

/// Media through real nginx → herd → the stand-in origin, as a client sees it.
@Suite("Passthrough through nginx")
struct PassthroughTests {
    static let photo = "/system/media_attachments/files/000/000/001/original/photo.jpg"

    @Test("a JPEG arrives byte-identical, with the origin's caching headers and our Via")
    func jpegByteIdentical() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let response = try stack.get(Self.photo)
        #expect(response.status == 200)
        #expect(response.body == (try stack.originFile(Self.photo)))
        #expect(response.header("Content-Type") == "image/jpeg")
        #expect(response.header("Content-Length") == String(response.body.count))
        #expect(response.header("ETag") != nil)
        #expect(response.header("Cache-Control") == "public, max-age=31536000, immutable")
        #expect(response.header("Via") == "1.1 herd")
        #expect(try stack.originHits()[Self.photo] == 1)
    }

    @Test("every media route family reaches the origin", arguments: [
        "/system/accounts/avatars/000/000/001/original/avatar.jpg",
        "/system/custom_emojis/images/000/000/001/original/blobcat.png",
        "/system/media_attachments/files/000/000/002/original/clip.mp4",
        "/media/2f/8a/kite.jpg",
        "/media/ab/cd/avatar.png",
    ])
    func mediaRoutes(path: String) throws {
        let stack = try Stack()
        defer { stack.stop() }
        let response = try stack.get(path)
        #expect(response.status == 200)
        #expect(response.body == (try stack.originFile(path)))
    }

    @Test("Mastodon's /media_proxy/ 302 comes back as it is, Location kept")
    func redirectKept() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let response = try stack.get("/media_proxy/42/original")
        #expect(response.status == 302)
        #expect(response.header("Location") == Self.photo)
        #expect(try stack.originHits()[Self.photo] == nil, "herd must not follow the redirect")
    }

    @Test("If-None-Match with the origin's ETag gets the origin's 304")
    func conditionalGet() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let first = try stack.get(Self.photo)
        let etag = try #require(first.header("ETag"))
        let second = try stack.get(Self.photo, headers: [("If-None-Match", etag)])
        #expect(second.status == 304)
        #expect(second.body.isEmpty)
        #expect(try stack.originLastHeaders(Self.photo)["If-None-Match"] == etag)

        let lastModified = try #require(first.header("Last-Modified"))
        let third = try stack.get(Self.photo, headers: [("If-Modified-Since", lastModified)])
        #expect(third.status == 304)
    }

    @Test("HEAD answers GET's headers and no body")
    func head() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let response = try stack.get(Self.photo, method: "HEAD")
        #expect(response.status == 200)
        #expect(response.body.isEmpty)
        #expect(response.header("Content-Length") == String(try stack.originFile(Self.photo).count))
        #expect(response.header("Content-Type") == "image/jpeg")
        #expect(try stack.originLastHeaders(Self.photo).isEmpty == false)
    }

    @Test("a Range request gets the origin's 206 with the right bytes")
    func range() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let response = try stack.get(Self.photo, headers: [("Range", "bytes=100-199")])
        #expect(response.status == 206)
        #expect(response.body == Array(try stack.originFile(Self.photo)[100...199]))
        #expect(response.header("Content-Range")?.hasPrefix("bytes 100-199/") == true)
    }

    @Test("Set-Cookie, hop-by-hop and X-Accel-* headers from the origin never reach the client")
    func dangerousHeadersDropped() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let response = try stack.get(Self.photo + "?cookie=1&hop=1&accel=1")
        #expect(response.status == 200)
        #expect(response.body == (try stack.originFile(Self.photo)))
        #expect(response.header("Set-Cookie") == nil)
        #expect(response.header("X-Secret") == nil, "named in the origin's Connection header: hop-by-hop")
        #expect(response.header("Keep-Alive") == nil)
        #expect(response.header("X-Accel-Redirect") == nil)
        #expect(response.header("X-Accel-Expires") == nil)
    }

    @Test("the client's Cookie and Authorization never reach the origin")
    func credentialsNotForwarded() throws {
        let stack = try Stack()
        defer { stack.stop() }
        _ = try stack.get(Self.photo, headers: [("Cookie", "_session_id=abc"), ("Authorization", "Bearer xyz")])
        let seen = try stack.originLastHeaders(Self.photo)
        #expect(!seen.isEmpty)
        #expect(seen.keys.contains { $0.lowercased() == "cookie" || $0.lowercased() == "authorization" } == false)
    }

    @Test("connections to the origin are kept alive and reused")
    func originKeepAlive() throws {
        let stack = try Stack(.init(herdArguments: ["--threads", "2"]))
        defer { stack.stop() }
        // Distinct URLs: each one a fetch (the same URL would come from the source cache).
        for index in 0..<20 { #expect(try stack.get(Self.photo + "?n=\(index)").status == 200) }
        let totals = try stack.originTotal()
        #expect(totals.requests == 20)
        #expect(totals.connections <= 2, "one kept-alive connection per accept thread, got \(totals.connections)")
    }

    @Test("an origin error status passes through with a short cache lifetime")
    func originErrorShortTTL() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let missing = try stack.get("/system/media_attachments/files/000/000/009/original/gone.jpg")
        #expect(missing.status == 404)
        #expect(missing.header("Cache-Control") == "public, max-age=5")
        let failing = try stack.get(Self.photo + "?status=500&cc=public,max-age=86400")
        #expect(failing.status == 500)
        #expect(failing.header("Cache-Control") == "public, max-age=5", "an error never keeps a long lifetime")
    }
}
