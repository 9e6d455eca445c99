import Foundation
import HerdTestSupport
import Imaging
import Testing

/// Image variants end to end: client → nginx → herd → origin.
@Suite("Conversion through nginx")
struct ConversionTests {
    static let photo = PassthroughTests.photo
    static let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
    static let safari16 = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
    static let safari17 = "image/webp,image/avif,image/jxl,image/heic,image/heic-sequence,video/*;q=0.8,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"
    static let firefox128 = "image/avif,image/webp,image/png,image/svg+xml,image/*;q=0.8,*/*;q=0.5"

    static func isAVIF(_ body: [UInt8]) -> Bool { body.count > 12 && Array(body[4..<12]) == Array("ftypavif".utf8) }
    static func isWebP(_ body: [UInt8]) -> Bool { body.count > 12 && Array(body[8..<12]) == Array("WEBP".utf8) }

    @Test("Chrome and Firefox get AVIF bytes; Safari 16 WebP; Safari 17 what the table says; */* the original")
    func variantsByBrowser() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let original = try stack.originFile(Self.photo)

        for accept in [Self.chrome, Self.firefox128, Self.safari17] {
            let response = try stack.get(Self.photo, headers: [("Accept", accept)])
            #expect(response.status == 200)
            #expect(Self.isAVIF(response.body), "\(accept)")
            #expect(response.header("Content-Type") == "image/avif")
            #expect(response.header("X-Herd-Variant") == "avif")
            #expect(response.body.count < original.count)
            #expect(response.header("ETag")?.hasPrefix("\"h1-") == true)
        }
        let safari16 = try stack.get(Self.photo, headers: [("Accept", Self.safari16)])
        #expect(Self.isWebP(safari16.body))
        #expect(safari16.header("Content-Type") == "image/webp")
        #expect(safari16.header("X-Herd-Variant") == "webp")

        for accept in ["*/*", "image/*,*/*;q=0.8"] {
            let response = try stack.get(Self.photo, headers: [("Accept", accept)])
            #expect(response.body == original)
            #expect(response.header("X-Herd-Variant") == "orig")
        }
        let none = try stack.get(Self.photo)
        #expect(none.body == original)
        // Each response varies on Accept, exactly once.
        for response in [safari16, none] {
            #expect(response.headers(named: "Vary") == ["Accept"])
        }
        // The converted image is a real image of the same size.
        let decoded = try TestImages.decode(safari16.body)
        #expect(decoded.width == 640 && decoded.height == 400)
    }

    @Test("Vary: Accept on every media response, errors included")
    func varyOnErrors() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let missing = try stack.get("/system/media_attachments/files/000/000/404/original/gone.jpg", headers: [("Accept", Self.chrome)])
        #expect(missing.status == 404)
        #expect(missing.headers(named: "Vary") == ["Accept"])
        let failing = try stack.get(Self.photo + "?status=503", headers: [("Accept", Self.chrome)])
        #expect(failing.status == 503)
        #expect(failing.headers(named: "Vary") == ["Accept"])
        let method = try stack.get(Self.photo, method: "POST")
        #expect(method.status == 405)
        #expect(method.headers(named: "Vary") == ["Accept"])
    }

    @Test("HEAD answers GET's headers; If-None-Match with our ETag → 304")
    func headAndConditional() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let get = try stack.get(Self.photo, headers: [("Accept", Self.chrome)])
        let head = try stack.get(Self.photo, method: "HEAD", headers: [("Accept", Self.chrome)])
        #expect(head.status == 200)
        #expect(head.body.isEmpty)
        for name in ["Content-Type", "Content-Length", "ETag", "Cache-Control", "Vary", "X-Herd-Variant"] {
            #expect(head.header(name) == get.header(name), "\(name)")
        }
        let etag = try #require(get.header("ETag"))
        let revalidated = try stack.get(Self.photo, headers: [("Accept", Self.chrome), ("If-None-Match", etag)])
        #expect(revalidated.status == 304)
        #expect(revalidated.header("ETag") == etag)
        // Our ETag never reaches the origin.
        #expect(try stack.originLastHeaders(Self.photo)["If-None-Match"] == nil)
        // A different variant does not match.
        let other = try stack.get(Self.photo, headers: [("Accept", Self.safari16), ("If-None-Match", etag)])
        #expect(other.status == 200)
    }

    @Test("an AVIF or WebP source goes to a client that named neither as JPEG")
    func fallbackToJPEG() throws {
        let avif = TestImages.avif(TestImages.photo(width: 320, height: 200))
        let stack = try Stack(.init(files: ["/media/aa/bb/photo.avif": avif]))
        defer { stack.stop() }
        let curl = try stack.get("/media/aa/bb/photo.avif", headers: [("Accept", "*/*")])
        #expect(curl.status == 200)
        #expect(curl.header("Content-Type") == "image/jpeg")
        #expect(curl.header("X-Herd-Variant") == "jpeg")
        #expect(ImageFormat.sniff(curl.body) == .jpeg)
        let chrome = try stack.get("/media/aa/bb/photo.avif", headers: [("Accept", Self.chrome)])
        #expect(chrome.body == avif, "an AVIF source is already what Chrome wants")
    }

    @Test("bad sources: the original when a browser can show it, short-lived; never a crash")
    func badSources() throws {
        let jpeg = TestImages.jpeg(TestImages.photo(width: 400, height: 300))
        var bomb = TestImages.png(TestImages.quadrants(width: 2, height: 2), kind: .rgb)
        for offset in [16, 20] { bomb[offset + 1] = 0x01; bomb[offset + 2] = 0x86; bomb[offset + 3] = 0xA0 }  // 100000
        let files: [String: [UInt8]] = [
            "/media/bad/truncated.jpg": Array(jpeg.prefix(jpeg.count / 2)),
            "/media/bad/bomb.png": bomb,
            "/media/bad/empty.jpg": [],
            "/media/bad/page.jpg": Array("<html><script>alert(1)</script></html>".utf8),
            "/media/bad/logo.svg": Array("<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".utf8),
        ]
        let stack = try Stack(.init(files: files))
        defer { stack.stop() }
        for path in ["/media/bad/truncated.jpg", "/media/bad/bomb.png"] {
            let response = try stack.get(path, headers: [("Accept", Self.chrome)])
            #expect(response.status == 200, "\(path)")
            #expect(response.body == files[path], "\(path): the original bytes")
            #expect(response.header("Cache-Control") == "public, max-age=5", "\(path): short-lived")
            #expect(response.header("X-Herd-Variant") == "orig")
        }
        let empty = try stack.get("/media/bad/empty.jpg", headers: [("Accept", Self.chrome)])
        #expect(empty.status == 200)
        #expect(empty.body.isEmpty)
        for path in ["/media/bad/page.jpg", "/media/bad/logo.svg"] {
            let response = try stack.get(path, headers: [("Accept", Self.chrome)])
            #expect(response.body == files[path], "\(path): passed through, never decoded")
            #expect(response.header("X-Content-Type-Options") == "nosniff")
            #expect(response.header("Content-Security-Policy")?.contains("sandbox") == true)
        }
        #expect(stack.herd.isRunning)
    }

    @Test("Cloudflare mode: format= picks the variant and never reaches the origin")
    func cloudflareFormat() throws {
        let stack = try Stack(.init(herdArguments: ["--set", "server.behind_cloudflare_free=true"], cloudflare: true))
        defer { stack.stop() }
        let webp = try stack.get(Self.photo + "?format=webp")
        #expect(Self.isWebP(webp.body))
        let plain = try stack.get(Self.photo, headers: [("Accept", Self.chrome)])
        #expect(plain.header("X-Herd-Variant") == "orig", "Accept is ignored: Cloudflare would not key on it")
        #expect(try stack.originHits()[Self.photo] == 1, "one fetch: the second variant comes from herd's source cache")
        #expect(try stack.originHits().keys.contains { $0.contains("format=") } == false)
    }

    @Test("a full conversion queue answers 503 at once")
    func busy() throws {
        let big = TestImages.jpeg(TestImages.photo(width: 2560, height: 1600), quality: 90)
        let other = TestImages.jpeg(TestImages.photo(width: 2560, height: 1600), quality: 89)
        let stack = try Stack(.init(herdArguments: ["--set", "image.workers=1", "--set", "image.queue=0", "--set", "image.avif_speed=6"],
                                    files: ["/media/big/photo.jpg": big, "/media/big/other.jpg": other]))
        defer { stack.stop() }
        let first = ResultBox()
        let thread = Thread { first.set(Result { try stack.get("/media/big/photo.jpg", headers: [("Accept", Self.chrome)], timeout: 60) }) }
        thread.start()
        usleep(300_000)
        let started = Date()
        // A different source: the same one would share the running conversion.
        let second = try stack.get("/media/big/other.jpg", headers: [("Accept", Self.chrome)])
        #expect(second.status == 503)
        #expect(second.header("Retry-After") == "1")
        #expect(second.header("Cache-Control") == "no-store")
        #expect(Date().timeIntervalSince(started) < 1.0, "refused at once, not queued")
        #expect(Wait.until(timeout: 60) { first.value != nil })
        #expect(try first.value?.get().status == 200)
    }
}
