import Basics
import Foundation
import HerdTestSupport
import Imaging
import Logging
@testable import Remote
import Testing
import Upstream
import Herd
@testable import Media
import Settings
import System

/// Signed remote URLs without nginx or a network: recorded params in, a
/// recording writer out, a scripted "remote" behind the `RemoteFetcher`
/// (redirects, failures and header rules are herd's, above libcurl). The
/// address guard itself is tested with real sockets (ConnectGuardTests)
/// and end to end through nginx (RemoteProxyTests).
@Suite("Signed remote media, without nginx")
struct RemoteMediaTests {
    static let secret = "test-secret-key-base"
    static let photo = TestImages.jpeg(TestImages.photo(width: 1200, height: 900), quality: 95)

    static func handler(_ remote: ScriptedOrigin, configure: (inout HerdConfiguration) -> Void = { _ in }) -> RequestHandler {
        var configuration = HerdConfiguration()
        configuration.upstream.url = "http://origin.test/"
        configuration.mediaProxy.secretKeyBase = secret
        configuration.mediaProxy.previewMinBytes = 1024
        configuration.camo.key = "camo-key"
        configure(&configuration)
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        return RequestHandler(context: try! WorkerContext(configuration: configuration, metrics: HerdMetrics(), logger: logger),
                              origin: remote)
    }

    static func serve(_ handler: RequestHandler, _ path: String, method: String = "GET", variant: String = "webp") -> RecordingWriter {
        let writer = RecordingWriter()
        handler.handle(params: RecordedParams(method, path, ["HERD_VARIANT": variant]), output: writer)
        return writer
    }

    static func signed(_ url: String, preview: Bool = false, filename: String? = nil) -> String {
        SignedProxyURL.sign(url, secret: Array(secret.utf8), kind: preview ? .preview : .original, filename: filename)
    }

    static func answering(_ answer: ScriptedOrigin.Answer) -> ScriptedOrigin {
        ScriptedOrigin { _ in answer }
    }

    // MARK: Checks before any network activity

    @Test("Akkoma's vector: the URL is fetched as signed, the filename accepted percent-encoded")
    func vector() {
        let remote = Self.answering(.init(headers: [("Content-Type", "image/png")], body: TestImages.png(TestImages.quadrants(), kind: .rgb)))
        let writer = Self.serve(Self.handler(remote),
                                "/proxy/ewBfA86F2Tjm63sNjFbekqTWgzw/aHR0cHM6Ly9yZW1vdGUuZXhhbXBsZS9tZWRpYS9jYXQlMjBwaWMucG5nP3g9MQ/cat%20pic.png")
        #expect(writer.status == 200)
        #expect(remote.asked.map(\.url) == ["https://remote.example/media/cat%20pic.png?x=1"])
    }

    @Test("bad signature 403, malformed 400, wrong filename 302, localhost and credentials 403: nothing fetched")
    func refusedBeforeFetching() {
        let remote = Self.answering(.init(body: Self.photo))
        let handler = Self.handler(remote)
        let good = Self.signed("https://remote.example/a.jpg")
        let parts = good.split(separator: "/")
        // Another valid base64url signature: the first character changed.
        let badSignature = "/proxy/" + (parts[1].first == "A" ? "B" : "A") + parts[1].dropFirst() + "/" + parts[2]
        #expect(Self.serve(handler, badSignature).status == 403)
        #expect(Self.serve(handler, "/proxy/" + parts[1] + "/" + parts[2] + "x").status == 403)  // a different URL, same MAC
        #expect(Self.serve(handler, "/proxy/not-base64!/" + parts[2]).status == 400)
        #expect(Self.serve(handler, "/proxy/" + parts[1]).status == 400)
        #expect(Self.serve(handler, Self.signed("ftp://remote.example/a.jpg")).status == 400)
        #expect(Self.serve(handler, Self.signed("file:///etc/passwd")).status == 400)
        #expect(Self.serve(handler, Self.signed("gopher://remote.example/")).status == 400)
        for url in ["http://localhost/a.jpg", "http://img.localhost/a.jpg", "http://user:pass@remote.example/a.jpg"] {
            let writer = Self.serve(handler, Self.signed(url))
            #expect(writer.status == 403, "\(url)")
            #expect(writer.header("X-Herd-Error") == "refused_url", "\(url)")
        }
        let wrongName = Self.serve(handler, Self.signed("https://remote.example/a.jpg", filename: "b.jpg") + "?static=true")
        #expect(wrongName.status == 302)
        #expect(wrongName.header("Location") == good + "/a.jpg?static=true")
        #expect(remote.asked.isEmpty)
    }

    // MARK: What the client gets

    @Test("a remote's headers are allowed in by name: validators and type kept; cookies, CORS, Location, its CSP dropped; 14 days")
    func headerAllowlist() {
        let video = Array(String(repeating: "a video, not an image. ", count: 200).utf8)
        let remote = Self.answering(.init(headers: [
            ("Content-Type", "video/mp4"), ("ETag", "\"v1\""), ("Last-Modified", "Mon, 02 Nov 2026 10:00:00 GMT"),
            ("Set-Cookie", "a=b"), ("Access-Control-Allow-Origin", "*"), ("Content-Security-Policy", "default-src *"),
            ("X-Secret", "internal"), ("Link", "</x>; rel=preload"), ("Cache-Control", "max-age=60"),
            ("Content-Disposition", "attachment; filename=\"../../evil\r\nX: y\""),
        ], body: video))
        let writer = Self.serve(Self.handler(remote), Self.signed("https://remote.example/media/clip%20one.mp4"))
        #expect(writer.status == 200)
        #expect(writer.body == video)
        #expect(writer.header("Content-Type") == "video/mp4")
        #expect(writer.header("ETag") == "\"v1\"")
        #expect(writer.header("Last-Modified") == "Mon, 02 Nov 2026 10:00:00 GMT")
        #expect(writer.header("Content-Disposition") == "inline; filename=\"clip_one.mp4\"")
        #expect(writer.header("Cache-Control") == "public, max-age=1209600")
        #expect(writer.header("X-Content-Type-Options") == "nosniff")
        #expect(writer.header("Content-Security-Policy")?.contains("sandbox") == true)
        #expect(writer.header("X-Herd-Source") == "remote")
        #expect(writer.header("Vary") == "Accept")
        for dropped in ["Set-Cookie", "Access-Control-Allow-Origin", "X-Secret", "Link"] {
            #expect(writer.header(dropped) == nil, "\(dropped)")
        }
    }

    @Test("only exact image, audio and video types are inline; HTML, SVG, +xml, lists, empty and odd types are attachments",
          arguments: [
        (["text/html; charset=utf-8"], "attachment", "text/html"), (["image/svg+xml"], "attachment", "image/svg+xml"),
        ([], "attachment", "application/octet-stream"), (["application/javascript"], "attachment", "application/javascript"),
        (["image/x+xml"], "attachment", "image/x+xml"), (["video/x-foo+xml"], "attachment", "video/x-foo+xml"),
        ([""], "attachment", "application/octet-stream"), ([";"], "attachment", "application/octet-stream"),
        (["image/png, text/html"], "attachment", "application/octet-stream"),
        (["image/png", "text/html"], "attachment", "application/octet-stream"),
        (["image/"], "attachment", "application/octet-stream"), (["/png"], "attachment", "application/octet-stream"),
        (["Audio/OGG; codecs=opus"], "inline", "audio/ogg"), (["image/png"], "inline", "image/png"),
        (["video/mp4"], "inline", "video/mp4"),
    ] as [([String], String, String)])
    func disposition(types: [String], disposition: String, served: String) {
        let body = Array("<html><script>alert(document.domain)</script></html>".utf8)
        let remote = Self.answering(.init(headers: types.map { ("Content-Type", $0) }, body: body))
        let writer = Self.serve(Self.handler(remote), Self.signed("https://remote.example/page.html"))
        #expect(writer.status == 200)
        #expect(writer.values("Content-Disposition") == ["\(disposition); filename=\"page.html\""])
        #expect(writer.values("Content-Type") == [served])
    }

    @Test("a body too short to sniff keeps the attachment and type herd gave it")
    func tinyBody() {
        let remote = Self.answering(.init(headers: [("Content-Type", "text/html")], body: Array("<svg/onload=x>".utf8)))
        let writer = Self.serve(Self.handler(remote), Self.signed("https://remote.example/x.html"))
        #expect(writer.status == 200)
        #expect(writer.header("Content-Disposition") == "attachment; filename=\"x.html\"")
        #expect(writer.header("Content-Type") == "text/html")
    }

    @Test("a remote image is converted for the client's variant and kept 14 days")
    func converted() throws {
        let remote = Self.answering(.init(headers: [("Content-Type", "image/jpeg")], body: Self.photo))
        let writer = Self.serve(Self.handler(remote), Self.signed("https://remote.example/photo.jpg"), variant: "webp")
        #expect(writer.status == 200)
        #expect(writer.header("Content-Type") == "image/webp")
        #expect(writer.header("Cache-Control") == "public, max-age=1209600")
        #expect(try TestImages.decode(writer.body).width == 1200)
    }

    @Test("a remote that says private or no-store is obeyed")
    func privateObeyed() {
        let remote = Self.answering(.init(headers: [("Content-Type", "image/jpeg"), ("Cache-Control", "private")], body: Self.photo))
        let writer = Self.serve(Self.handler(remote), Self.signed("https://remote.example/photo.jpg"), variant: "orig")
        #expect(writer.status == 200)
        #expect(CacheControl.forbidsSharedCache(writer.header("Cache-Control")))
        #expect(writer.values("X-Accel-Expires") == ["0"])
    }

    // MARK: Redirects, failures, blocked domains

    @Test("redirects are followed by herd, relative ones resolved, each hop asked anew")
    func redirects() {
        let remote = ScriptedOrigin { request in
            switch request.url {
            case "https://remote.example/a/start.jpg": .init(status: 301, headers: [("Location", "next.jpg")])
            case "https://remote.example/a/next.jpg": .init(status: 302, headers: [("Location", "//cdn.example/img?id=1")])
            case "https://cdn.example/img?id=1": .init(status: 307, headers: [("Location", "/final.jpg")])
            default: .init(headers: [("Content-Type", "image/jpeg")], body: Self.photo)
            }
        }
        let writer = Self.serve(Self.handler(remote), Self.signed("https://remote.example/a/start.jpg"), variant: "orig")
        #expect(writer.status == 200)
        #expect(writer.body == Self.photo)
        #expect(remote.asked.map(\.url) == ["https://remote.example/a/start.jpg", "https://remote.example/a/next.jpg",
                                            "https://cdn.example/img?id=1", "https://cdn.example/final.jpg"])
    }

    @Test("a fourth redirect is refused (502), a redirect to another scheme or to localhost 403", arguments: [
        ("ftp://remote.example/a.jpg", 403), ("file:///etc/passwd", 403), ("gopher://remote.example:70/", 403),
        ("http://localhost/a.jpg", 403), ("http://user:pw@remote.example/", 403), ("/again", 502),
    ])
    func refusedRedirect(location: String, status: Int) {
        let remote = Self.answering(.init(status: 302, headers: [("Location", location)]))
        let writer = Self.serve(Self.handler(remote), Self.signed("https://remote.example/a.jpg"))
        #expect(writer.status == status)
        #expect(remote.asked.count == (status == 502 ? 4 : 1))
        #expect(remote.asked.allSatisfy { $0.url.hasPrefix("https://remote.example/") })
    }

    @Test("a remote that failed is not asked again for remote.failure_ttl; another URL is")
    func failureRemembered() {
        let remote = Self.answering(.init(failBeforeHead: .connect))
        let handler = Self.handler(remote)
        let url = Self.signed("https://dead.example/a.jpg")
        #expect(Self.serve(handler, url).status == 502)
        let again = Self.serve(handler, url)
        #expect(again.status == 502)
        #expect(again.header("X-Herd-Error") == "connect")  // the first answer, from memory
        #expect(remote.asked.count == 1)
        _ = Self.serve(handler, Self.signed("https://dead.example/b.jpg"))
        #expect(remote.asked.count == 2)
        let forgetful = Self.answering(.init(failBeforeHead: .connect))
        let noMemory = Self.handler(forgetful) { $0.remote.failureTTL = 0 }
        _ = Self.serve(noMemory, url)
        _ = Self.serve(noMemory, url)
        #expect(forgetful.asked.count == 2)
    }

    @Test("a remote's error page is never passed on: its 404 is herd's 404, a 5xx or a 3xx without Location herd's 502; 5xx remembered")
    func statusesRemembered() {
        let remote = ScriptedOrigin { request in
            if request.url.hasSuffix("moved.jpg") { return .init(status: 302, headers: [("Content-Type", "text/html")], body: Array("x".utf8)) }
            return .init(status: request.url.hasSuffix("gone.jpg") ? 404 : 503, headers: [("Content-Type", "text/html")],
                         body: Array("<script>phish()</script>".utf8))
        }
        let handler = Self.handler(remote)
        let busy = Self.serve(handler, Self.signed("https://remote.example/busy.jpg"))
        #expect(busy.status == 502)
        #expect(busy.header("X-Herd-Error") == "remote_error")
        #expect(busy.header("Content-Type") == "text/plain; charset=utf-8")
        #expect(busy.header("Cache-Control") == "public, max-age=5")
        #expect(!String(decoding: busy.body, as: UTF8.self).contains("phish"))
        let gone = Self.serve(handler, Self.signed("https://remote.example/gone.jpg"))
        #expect(gone.status == 404)
        #expect(!String(decoding: gone.body, as: UTF8.self).contains("phish"))
        #expect(Self.serve(handler, Self.signed("https://remote.example/moved.jpg")).status == 502)
        _ = Self.serve(handler, Self.signed("https://remote.example/busy.jpg"))
        _ = Self.serve(handler, Self.signed("https://remote.example/gone.jpg"))
        #expect(remote.asked.map(\.url).filter { $0.hasSuffix("busy.jpg") }.count == 1)
        #expect(remote.asked.map(\.url).filter { $0.hasSuffix("gone.jpg") }.count == 2)
    }

    @Test("a blocked domain and every name under it are refused before any fetch, redirects too")
    func blockedDomains() {
        let remote = Self.answering(.init(status: 302, headers: [("Location", "https://cdn.bad.example/x.jpg")]))
        let handler = Self.handler(remote) { $0.remote.blockedDomains = ["bad.example"] }
        #expect(Self.serve(handler, Self.signed("https://bad.example/a.jpg")).status == 403)
        #expect(Self.serve(handler, Self.signed("https://media.BAD.example./a.jpg")).status == 403)
        #expect(remote.asked.isEmpty)
        #expect(Self.serve(handler, Self.signed("https://good.example/a.jpg")).status == 403)
        #expect(remote.asked.map(\.url) == ["https://good.example/a.jpg"])
        #expect(Self.serve(handler, Self.signed("https://notbad.example/a.jpg")).status == 403)  // the redirect, not the name
        #expect(remote.asked.count == 2)
    }

    // MARK: Previews

    @Test("a preview fits within 600 px in the client's variant; a small source redirects to /proxy/")
    func previews() throws {
        let remote = Self.answering(.init(headers: [("Content-Type", "image/jpeg")], body: Self.photo))
        let handler = Self.handler(remote)
        let url = "https://remote.example/photo.jpg"
        for (variant, type) in [("avif", "image/avif"), ("webp", "image/webp"), ("orig", "image/jpeg")] {
            let writer = Self.serve(handler, Self.signed(url, preview: true, filename: "photo.jpg"), variant: variant)
            #expect(writer.status == 200)
            #expect(writer.header("Content-Type") == type)
            let image = try TestImages.decode(writer.body)
            #expect(max(image.width, image.height) == 600)
        }
        // One fetch for every variant (the preview fetch is shared and cached).
        #expect(remote.asked.count == 1)

        let small = Self.handler(Self.answering(.init(headers: [("Content-Type", "image/jpeg")], body: Self.photo))) {
            $0.mediaProxy.previewMinBytes = Self.photo.count + 1
        }
        let redirect = Self.serve(small, Self.signed(url, preview: true, filename: "photo.jpg"))
        #expect(redirect.status == 302)
        #expect(redirect.header("Location") == Self.signed(url, filename: "photo.jpg"))

        // JPEG's decoder turned off (image.decode): no preview, the original.
        let off = Self.handler(Self.answering(.init(headers: [("Content-Type", "image/jpeg")], body: Self.photo))) {
            $0.image.decode = ["png", "gif", "webp", "avif", "heif"]
        }
        let original = Self.serve(off, Self.signed(url, preview: true, filename: "photo.jpg"))
        #expect(original.status == 302 && original.header("Location") == Self.signed(url, filename: "photo.jpg"))
        let plain = Self.serve(off, Self.signed(url, filename: "photo.jpg"), variant: "avif")
        #expect(plain.status == 200 && plain.header("Content-Type") == "image/jpeg" && plain.body == Self.photo)
    }

    @Test("a transparent preview for a client that takes neither AVIF nor WebP is a PNG")
    func transparentPreview() throws {
        let png = TestImages.png(TestImages.quadrants(width: 1000, height: 800, alpha: true), kind: .rgba)
        let handler = Self.handler(Self.answering(.init(headers: [("Content-Type", "image/png")], body: png))) {
            $0.mediaProxy.previewMinBytes = 0
        }
        let writer = Self.serve(handler, Self.signed("https://remote.example/t.png", preview: true), variant: "orig")
        #expect(writer.status == 200)
        #expect(writer.header("Content-Type") == "image/png")
        let image = try TestImages.decode(writer.body)
        #expect(image.width == 600 && image.hasAlpha)
    }

    @Test("an animated GIF: 302 without static=true, its first frame with it; not an image: 302")
    func gifAndOthers() throws {
        let gif = TestImages.gif(TestImages.quadrants(width: 800, height: 640), frames: 3)
        let handler = Self.handler(Self.answering(.init(headers: [("Content-Type", "image/gif")], body: gif))) {
            $0.mediaProxy.previewMinBytes = 0
        }
        let path = Self.signed("https://remote.example/anim.gif", preview: true)
        #expect(Self.serve(handler, path).status == 302)
        let still = Self.serve(handler, path + "?static=true", variant: "webp")
        #expect(still.status == 200)
        #expect(still.header("Content-Type") == "image/webp")
        #expect(try TestImages.decode(still.body).width == 600)

        let text = Self.handler(Self.answering(.init(headers: [("Content-Type", "text/html")],
                                                     body: Array(String(repeating: "<p>hello</p>", count: 500).utf8))))
        #expect(Self.serve(text, Self.signed("https://remote.example/page.html", preview: true)).status == 302)
    }

    @Test("a preview source over image.max_source_bytes is not held: 302 to the original")
    func previewTooLarge() {
        let remote = Self.answering(.init(headers: [("Content-Type", "video/mp4")], body: [UInt8](repeating: 7, count: 300_000)))
        let handler = Self.handler(remote) { $0.image.maxSourceBytes = 100_000 }
        let writer = Self.serve(handler, Self.signed("https://remote.example/v.mp4", preview: true))
        #expect(writer.status == 302)
        #expect(writer.header("Location") == Self.signed("https://remote.example/v.mp4"))
    }

    // MARK: go-camo

    @Test("go-camo's hex and base64url forms are fetched; a bad digest is 403; no key, no route")
    func camo() {
        let remote = Self.answering(.init(headers: [("Content-Type", "image/png")], body: TestImages.png(TestImages.quadrants(), kind: .rgb)))
        let handler = Self.handler(remote)
        // Made with Python's hmac: HMAC-SHA1("camo-key", "http://remote.test/media/a.png").
        let hex = "/camo/ba631ed546f053e57476d5423b3b48d7a54fbb62/687474703a2f2f72656d6f74652e746573742f6d656469612f612e706e67"
        let base64 = "/camo/umMe1UbwU-V0dtVCOztI16VPu2I/aHR0cDovL3JlbW90ZS50ZXN0L21lZGlhL2EucG5n"
        #expect(CamoURL.sign("http://remote.test/media/a.png", key: Array("camo-key".utf8), hex: true) == hex)
        #expect(CamoURL.sign("http://remote.test/media/a.png", key: Array("camo-key".utf8), hex: false) == base64)
        #expect(Self.serve(handler, hex, variant: "orig").status == 200)
        #expect(Self.serve(handler, base64, variant: "orig").status == 200)
        #expect(Self.serve(handler, "/camo/ba631ed546f053e57476d5423b3b48d7a54fbb63/687474703a2f2f72656d6f74652e746573742f6d656469612f612e706e67").status == 403)
        #expect(Self.serve(handler, "/camo/zz/687474").status == 400)
        #expect(remote.asked.count == 1)  // the second was the source cache's

        let off = ScriptedOrigin { _ in .init(body: [1, 2, 3]) }
        let noKey = Self.handler(off) { $0.camo.key = "" }
        #expect(Self.serve(noKey, hex).status == 404)
        #expect(off.asked.isEmpty)
    }

    @Test("without secret_key_base, /proxy/ goes to the origin as before")
    func proxyToOrigin() {
        let origin = Self.answering(.init(headers: [("Content-Type", "image/png")], body: [1, 2, 3]))
        let handler = Self.handler(origin) { $0.mediaProxy.secretKeyBase = "" }
        let path = Self.signed("https://remote.example/a.png")
        _ = Self.serve(handler, path, variant: "orig")
        #expect(origin.asked.map(\.url) == ["http://origin.test" + path])
    }
}

@Suite("Remote URLs")
struct RemoteURLTests {
    @Test("a Location resolved against the URL it came from", arguments: [
        ("next.jpg", "https://r.example/a/next.jpg"), ("/b.jpg", "https://r.example/b.jpg"),
        ("//cdn.example/c", "https://cdn.example/c"), ("?v=2", "https://r.example/a/start.jpg?v=2"),
        ("http://other.example:8080/d", "http://other.example:8080/d"), ("FTP://x/y", "FTP://x/y"),
        ("  /spaced ", "https://r.example/spaced"), ("", "https://r.example/a/start.jpg?x=1"),
    ])
    func resolve(location: String, expected: String) throws {
        let base = try #require(RemoteURL("https://r.example/a/start.jpg?x=1"))
        #expect(RemoteURL.resolve(location, against: base) == expected)
    }

    @Test("only http and https, no credentials, no localhost, no bad port")
    func parsing() {
        for bad in ["http://localhos%74/", "http://bad%2eexample/", "http://a..example/", "http://[::1%25lo]/", "http://a_b.example/",
                    "ftp://a.example/", "file:///etc/passwd", "gopher://a.example/", "http://u@a.example/", "http://localhost/",
                    "http://a.localhost./", "http://a.example:0/", "http://a.example:99999/", "http://a.example:x/", "http://[::1/",
                    "http:// a.example/", "http://a.example/\u{7f}", "javascript:alert(1)", "//a.example/"] {
            #expect(RemoteURL(bad) == nil, "\(bad)")
        }
        #expect(RemoteURL("HTTPS://A.Example:8443")?.absolute == "https://a.example:8443/")
        #expect(RemoteURL("http://[::ffff:127.0.0.1]:81/x#frag")?.absolute == "http://[::ffff:127.0.0.1]:81/x")
    }
}

@Suite("A 206 checked against the Range asked for")
struct PartialContentTests {
    @Test("answers", arguments: [
        ("bytes=0-99", "bytes 0-99/1000", 100, true), ("bytes=0-99", "bytes 0-49/1000", 50, true),
        ("bytes=100-", "bytes 100-999/1000", 900, true), ("bytes=-10", "bytes 990-999/1000", 10, true),
        ("bytes=-2000", "bytes 0-999/1000", 1000, true), ("bytes=0-99", "bytes 0-99/*", 100, true),
        ("bytes=100-109", "bytes 0-9/1000", 10, false), ("bytes=100-109", "bytes 500-509/1000", 10, false),
        ("bytes=100-109", "bytes 100-109/50", 10, false), ("bytes=100-109", "bytes */1000", 0, false),
        ("bytes=100-109", "garbage", 10, false), ("bytes=100-109", "bytes 100-109/1000", 11, false),
        ("bytes=100-109", "bytes 100-120/1000", 21, false), ("bytes=-10", "bytes 0-9/1000", 10, false),
        ("bytes=0-99", "bytes -1-99/1000", 101, false), ("items=0-9", "bytes 0-9/10", 10, false),
    ] as [(String, String, Int, Bool)])
    func answers(range: String, contentRange: String, length: Int, expected: Bool) {
        #expect(PartialContent.answers(range: range, contentRange: contentRange, contentLength: length, contentType: "video/mp4") == expected)
    }

    @Test("several ranges: a multipart body without Content-Range only")
    func multipart() {
        #expect(PartialContent.answers(range: "bytes=0-9,20-29", contentRange: nil, contentLength: nil,
                                       contentType: "multipart/byteranges; boundary=x"))
        #expect(!PartialContent.answers(range: "bytes=0-9,20-29", contentRange: "bytes 0-9/100", contentLength: 10, contentType: "video/mp4"))
    }

    @Test("a remote's 206 for another range is refused; the one asked for is passed on")
    func throughTheMediaPath() {
        let body = [UInt8](repeating: 1, count: 10)
        let remote = ScriptedOrigin { request in
            let asked = request.headers.first { $0.name == "Range" }?.value
            return .init(status: 206, headers: [("Content-Type", "video/mp4"),
                                                ("Content-Range", asked == "bytes=100-109" ? "bytes 500-509/1000" : "bytes 0-9/1000")],
                         body: body)
        }
        let handler = RemoteMediaTests.handler(remote)
        let path = RemoteMediaTests.signed("https://remote.example/v.mp4")
        let wrong = RecordingWriter()
        handler.handle(params: RecordedParams("GET", path, ["HTTP_RANGE": "bytes=100-109"]), output: wrong)
        #expect(wrong.status == 502)
        let right = RecordingWriter()
        handler.handle(params: RecordedParams("GET", path, ["HTTP_RANGE": "bytes=0-9"]), output: right)
        #expect(right.status == 206)
        #expect(right.header("Content-Range") == "bytes 0-9/1000")
    }

    @Test("a refused URL answers the same from the failure memory as the first time")
    func sameAnswerRemembered() {
        let remote = ScriptedOrigin { _ in .init(status: 302, headers: [("Location", "ftp://remote.example/x")]) }
        let handler = RemoteMediaTests.handler(remote)
        let path = RemoteMediaTests.signed("https://remote.example/a.jpg")
        let first = RemoteMediaTests.serve(handler, path)
        let second = RemoteMediaTests.serve(handler, path)
        #expect(first.status == 403 && second.status == 403)
        #expect(first.header("X-Herd-Error") == second.header("X-Herd-Error"))
        #expect(remote.asked.count == 1)
    }

    @Test("a remote's malformed validators are not passed on")
    func validators() {
        #expect(RemoteHead.isEntityTag("\"abc\"") && RemoteHead.isEntityTag("W/\"abc\""))
        #expect(!RemoteHead.isEntityTag("\"abc") && !RemoteHead.isEntityTag("abc") && !RemoteHead.isEntityTag("\"a\"b\""))
        #expect(RemoteHead.isHTTPDate("Sun, 06 Nov 1994 08:49:37 GMT"))
        #expect(!RemoteHead.isHTTPDate("garbage") && !RemoteHead.isHTTPDate("Sunday, 06-Nov-94 08:49:37 GMT"))
    }
}
