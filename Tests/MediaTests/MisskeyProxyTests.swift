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

/// Misskey's media proxy (`/proxy/{name}?url=…`), every query of its
/// SPECIFICATION.md, without nginx or a network: a scripted remote behind
/// herd's `RemoteFetcher`. Sizes are checked by decoding the answers.
@Suite("Misskey media proxy, without nginx")
struct MisskeyProxyTests {
    static let photo = TestImages.jpeg(TestImages.photo(width: 1200, height: 900), quality: 90)
    static let remoteURL = "https://remote.example/files/cat%20pic.jpg"

    static func handler(_ remote: ScriptedOrigin, configure: (inout HerdConfiguration) -> Void = { _ in }) -> RequestHandler {
        var configuration = HerdConfiguration()
        configuration.upstream.url = "http://origin.test/"
        configuration.misskey.enabled = true
        configure(&configuration)
        let logger = Logger(label: "test") { _ in SwiftLogNoOpLogHandler() }
        return RequestHandler(context: try! WorkerContext(configuration: configuration, metrics: HerdMetrics(), logger: logger),
                              origin: remote)
    }

    static func serving(_ body: [UInt8], type: String = "image/jpeg", headers: HTTPHeaders = []) -> ScriptedOrigin {
        ScriptedOrigin { _ in .init(headers: [("Content-Type", type)] + headers, body: body) }
    }

    static func get(_ handler: RequestHandler, _ query: String, name: String = "image.webp", accept: String? = "image/webp,*/*",
                    headers: [String: String] = [:]) -> RecordingWriter {
        var params = headers
        if let accept { params["HTTP_ACCEPT"] = accept }
        let writer = RecordingWriter()
        handler.handle(params: RecordedParams("GET", "/proxy/\(name)" + (query.isEmpty ? "" : "?" + query), params), output: writer)
        return writer
    }

    static func query(_ url: String = remoteURL, _ extra: String = "") -> String {
        "url=" + PercentEncoding.encode(url) + extra
    }

    static func size(_ writer: RecordingWriter) -> (Int, Int)? {
        guard let info = writer.body.withUnsafeBytes({ try? Probe.run($0, limits: ImageLimits()) }) else { return nil }
        return (info.width, info.height)
    }

    @Test("the route: one segment under /proxy/ is Misskey's, more is Akkoma's; the origin's unless misskey.enabled")
    func route() {
        #expect(Router.route(path: "/proxy/image.webp") == .media(.misskeyProxy))
        #expect(Router.route(path: "/proxy/SIG/URL64/name.png") == .media(.akkomaProxy))
        let remote = Self.serving(Self.photo)
        // Off: the path is the app's (Misskey's own /proxy/), sent to the origin as it came.
        let off = Self.get(Self.handler(remote) { $0.misskey.enabled = false }, Self.query())
        #expect(off.status == 200 && remote.asked.map(\.url) == ["http://origin.test/proxy/image.webp?" + Self.query()],
                "\(remote.asked.map(\.url))")
    }

    @Test("url is required: 400, max-age=300, nothing fetched (fallback does not change that)")
    func missingURL() {
        let remote = Self.serving(Self.photo)
        let handler = Self.handler(remote)
        for query in ["", "emoji=1", "url=", "fallback=1&emoji"] {
            let writer = Self.get(handler, query)
            #expect(writer.status == 400, "\(query)")
            #expect(writer.header("Cache-Control") == "max-age=300")
        }
        #expect(remote.asked.isEmpty)
    }

    @Test("no transform: the image as it is for a client that names no format, the negotiated one when smaller; the spec's headers")
    func asItIs() throws {
        let remote = Self.serving(Self.photo)
        let handler = Self.handler(remote)
        let plain = Self.get(handler, Self.query(), accept: "*/*")
        #expect(plain.status == 200 && plain.body == Self.photo && plain.header("Content-Type") == "image/jpeg")
        #expect(plain.header("Cache-Control") == "max-age=31536000, immutable")
        #expect(plain.header("Content-Security-Policy") == "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'")
        #expect(plain.header("Content-Disposition") == "inline; filename=\"cat_pic.jpg\"; filename*=UTF-8''cat%20pic.jpg",
                "\(plain.header("Content-Disposition") ?? "-")")
        #expect(plain.header("Vary") == "Accept" && plain.header("X-Content-Type-Options") == "nosniff")
        let avif = Self.get(handler, Self.query(), accept: "image/avif,image/webp,*/*")
        #expect(avif.status == 200 && avif.header("Content-Type") == "image/avif" && avif.body.count < Self.photo.count)
        #expect(avif.header("Content-Disposition")?.contains("cat_pic.jpg.avif") == true, "\(avif.header("Content-Disposition") ?? "-")")
        #expect(Self.size(avif)! == (1200, 900))
        #expect(remote.asked.count == 1, "one fetch for every variant")
    }

    @Test("emoji ≤ 128 high, avatar ≤ 320, static fit 498×422, preview fit 200×200, never scaled up; one fetch for all")
    func presets() throws {
        let remote = Self.serving(Self.photo)
        let handler = Self.handler(remote)
        let expected: [(String, (Int, Int))] = [
            ("&emoji=1", (171, 128)), ("&avatar", (427, 320)), ("&static=1", (498, 374)), ("&preview=1", (200, 150)),
            ("&emoji=1&static=1", (171, 128)), ("&avatar=1&static=1", (427, 320)),
        ]
        for (extra, size) in expected {
            let writer = Self.get(handler, Self.query(Self.remoteURL, extra))
            #expect(writer.status == 200 && writer.header("Content-Type") == "image/webp", "\(extra)")
            let got = try #require(Self.size(writer), "\(extra)")
            #expect(got == size, "\(extra): \(got)")
            #expect(writer.header("Cache-Control") == "max-age=31536000, immutable")
        }
        #expect(remote.asked.count == 1)
        // Small sources stay their size.
        let small = Self.serving(TestImages.png(TestImages.quadrants(width: 60, height: 40), kind: .rgb), type: "image/png")
        let emoji = Self.get(Self.handler(small), Self.query(Self.remoteURL, "&emoji=1"), accept: "image/avif,*/*")
        #expect(emoji.header("Content-Type") == "image/avif")
        #expect(Self.size(emoji)! == (60, 40))
        // webp_always: WebP whatever the Accept, no Vary.
        let always = Self.get(Self.handler(remote) { $0.misskey.webpAlways = true }, Self.query(Self.remoteURL, "&emoji=1"),
                              accept: "image/avif,*/*")
        #expect(always.header("Content-Type") == "image/webp" && always.header("Vary") == nil)
    }

    @Test("animations: a GIF emoji stays animated (fitted), static makes it still")
    func animations() throws {
        let gif = TestImages.animatedGIF(width: 400, height: 300, frames: [
            .init(left: 0, top: 0, width: 400, height: 300, color: TestImages.red, delay: 10),
            .init(left: 100, top: 100, width: 200, height: 100, color: TestImages.blue, delay: 10),
            .init(left: 0, top: 0, width: 100, height: 100, color: TestImages.green, delay: 10),
        ])
        let handler = Self.handler(Self.serving(gif, type: "image/gif"))
        let animated = Self.get(handler, Self.query(Self.remoteURL, "&emoji"))
        let info = try #require(animated.body.withUnsafeBytes { try? Probe.run($0, limits: ImageLimits()) })
        #expect(animated.header("Content-Type") == "image/webp" && info.isAnimated && info.height == 128 && info.width == 171,
                "\(animated.header("Content-Type") ?? "-") \(info.isAnimated) \(info.width)x\(info.height) \(animated.header("X-Herd-Error") ?? "")")
        let still = Self.get(handler, Self.query(Self.remoteURL, "&emoji&static"))
        let stillInfo = try #require(still.body.withUnsafeBytes { try? Probe.run($0, limits: ImageLimits()) })
        #expect(!stillInfo.isAnimated && stillInfo.height == 128)

        // An animated WebP emoji (the usual kind) is fitted too, still animated;
        // one small enough goes as it is.
        let webp = try ImagePipeline().convert(gif, to: .webp).bytes
        let webpHandler = Self.handler(Self.serving(webp, type: "image/webp"))
        let emoji = Self.get(webpHandler, Self.query(Self.remoteURL, "&emoji"))
        let emojiInfo = try #require(emoji.body.withUnsafeBytes { try? Probe.run($0, limits: ImageLimits()) })
        #expect(emojiInfo.isAnimated && emojiInfo.frames == 3 && emojiInfo.height == 128, "\(emojiInfo)")
        let sequence = Self.get(webpHandler, Self.query(Self.remoteURL, "&emoji"), accept: "image/avif,image/webp,*/*")
        #expect(sequence.header("Content-Type") == "image/avif" && TestImages.decodeAVIFSequence(sequence.body)?.frames.count == 3)
        let avatar = Self.get(webpHandler, Self.query(Self.remoteURL, "&avatar"))
        #expect(avatar.body == webp, "300 high is within the avatar's 320: as it is")
    }

    @Test("badge: a 96×96 PNG whose image is in its alpha; a blank image makes none (404)")
    func badge() throws {
        let handler = Self.handler(Self.serving(Self.photo))
        let writer = Self.get(handler, Self.query(Self.remoteURL, "&badge=1"))
        #expect(writer.status == 200 && writer.header("Content-Type") == "image/png")
        let image = try TestImages.decode(writer.body)
        #expect(image.width == 96 && image.height == 96 && image.channels == 4)
        let alphas = Set(stride(from: 3, to: image.pixels.count, by: 4).map { image.pixels[$0] })
        #expect(alphas.count > 16, "the image is in the alpha channel")
        #expect(alphas.contains(0), "the margin and dark parts are transparent")
        let blank = TestImages.png(RasterImage(width: 64, height: 64, channels: 3, pixels: [UInt8](repeating: 128, count: 64 * 64 * 3)),
                                   kind: .rgb)
        let none = Self.get(Self.handler(Self.serving(blank, type: "image/png")), Self.query(Self.remoteURL, "&badge"))
        #expect(none.status == 404 && none.header("Cache-Control") == "max-age=300")
    }

    @Test("fallback: a dead remote, a refused URL or a file that cannot be converted answer the placeholder, max-age=300")
    func fallback() throws {
        let dead = ScriptedOrigin { _ in .init(failBeforeHead: .connect) }
        let handler = Self.handler(dead)
        let error = Self.get(handler, Self.query())
        #expect((error.status ?? 0) >= 500 && error.header("Cache-Control") == "max-age=300", "\(String(describing: error.status))")
        let placeholder = Self.get(handler, Self.query(Self.remoteURL, "&fallback=1"))
        #expect(placeholder.status == 200 && placeholder.header("Content-Type") == "image/png")
        #expect(placeholder.header("Cache-Control") == "max-age=300")
        #expect(try TestImages.decode(placeholder.body).width == 160)
        let refused = Self.get(handler, Self.query("http://localhost/x.png", "&fallback"))
        #expect(refused.status == 200 && refused.header("Content-Type") == "image/png")
        let html = Self.handler(Self.serving(Array("<html>hi</html>".utf8), type: "text/html"))
        #expect(Self.get(html, Self.query(Self.remoteURL, "&emoji&fallback")).header("Content-Type") == "image/png")
    }

    @Test("not an image: browser-safe types as they are, others 403, SVG rasterized (never as SVG), a transform 404")
    func nonImages() {
        let video = Array(repeating: UInt8(7), count: 3000)
        let mp4 = Self.get(Self.handler(Self.serving(video, type: "video/mp4")), Self.query("https://remote.example/v.mp4"))
        #expect(mp4.status == 200 && mp4.header("Content-Type") == "video/mp4" && mp4.body == video)
        #expect(mp4.header("Content-Disposition") == "inline; filename=\"v.mp4\"")
        let html = Self.handler(Self.serving(Array("<html><script>alert(1)</script></html>".utf8), type: "text/html"))
        #expect(Self.get(html, Self.query()).status == 403)
        #expect(Self.get(html, Self.query(Self.remoteURL, "&preview")).status == 404)
        let svgBody = Array("<?xml version=\"1.0\"?><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"300\" height=\"150\"><rect width=\"300\" height=\"150\" fill=\"red\"/><script>alert(1)</script></svg>".utf8)
        let rasterizer = FileManager.default.isExecutableFile(atPath: "/usr/bin/rsvg-convert")
        for type in ["image/svg+xml", "image/png", "text/plain"] {
            let svg = Self.get(Self.handler(Self.serving(svgBody, type: type)), Self.query())
            #expect(!svg.body.starts(with: Array("<?xml".utf8)) && svg.header("Content-Type")?.contains("svg") != true, "\(type)")
            if rasterizer {
                // Rasterized at its own size, then in the client's format.
                #expect(svg.status == 200 && svg.header("Content-Type") == "image/webp", "\(type): \(String(describing: svg.status))")
                #expect(Self.size(svg).map { $0 == (300, 150) } == true)
                let emoji = Self.get(Self.handler(Self.serving(svgBody, type: type)), Self.query(Self.remoteURL, "&emoji"))
                #expect(Self.size(emoji).map { $0 == (256, 128) } == true)
            } else {
                #expect(svg.status == 415)
            }
        }
        let off = Self.get(Self.handler(Self.serving(svgBody, type: "image/svg+xml")) { $0.misskey.svgRasterizer = "" }, Self.query())
        #expect(off.status == 415 && off.header("X-Herd-Error") == "svg_not_served")
    }

    @Test("an open proxy made safe: every refused spelling opens no connection")
    func refusedSpellings() {
        let remote = Self.serving(Self.photo)
        let handler = Self.handler(remote) { $0.remote.blockedDomains = ["blocked.example"] }
        let refused = [
            "http://localhost/a.png", "http://LOCALHOST./a.png", "ftp://remote.example/a.png", "file:///etc/passwd",
            "http://user:pass@remote.example/a.png", "https://remote.example:0/a.png", "gopher://remote.example/",
            "//remote.example/a.png", "javascript:alert(1)", "https://blocked.example/a.png", "https://cdn.blocked.example/a.png",
        ]
        for url in refused {
            let writer = Self.get(handler, Self.query(url))
            #expect(writer.status == 400 || writer.status == 403, "\(url): \(writer.status)")
        }
        #expect(remote.asked.isEmpty, "\(remote.asked.map(\.url))")
    }

    @Test("misskey.allowed_origins: only pages of those origins (Origin, else Referer)")
    func allowedOrigins() {
        let remote = Self.serving(Self.photo)
        let handler = Self.handler(remote) { $0.misskey.allowedOrigins = ["https://misskey.example"] }
        #expect(Self.get(handler, Self.query()).status == 403)
        #expect(Self.get(handler, Self.query(), headers: ["HTTP_REFERER": "https://elsewhere.example/notes/1"]).status == 403)
        #expect(remote.asked.isEmpty)
        #expect(Self.get(handler, Self.query(), headers: ["HTTP_REFERER": "https://misskey.example/notes/1"]).status == 200)
        #expect(Self.get(handler, Self.query(), headers: ["HTTP_ORIGIN": "https://MISSKEY.example"]).status == 200)
        // One origin however it is written: default port, case, a trailing "/".
        let written = Self.handler(remote) { $0.misskey.allowedOrigins = ["HTTPS://Misskey.Example:443/"] }
        #expect(Self.get(written, Self.query(), headers: ["HTTP_ORIGIN": "https://misskey.example"]).status == 200)
        #expect(Self.get(written, Self.query(), headers: ["HTTP_ORIGIN": "https://misskey.example:8443"]).status == 403)
        #expect(Self.get(written, Self.query(), headers: ["HTTP_REFERER": "https://misskey.example@evil.example/"]).status == 403)
        #expect(Self.get(written, Self.query(), headers: ["HTTP_ORIGIN": "null"]).status == 403)
    }

    @Test("WebOrigin: what browsers send and admins write, strictly",
          arguments: [("https://misskey.example", "https://misskey.example"), ("HTTP://A.example:80", "http://a.example"),
                      ("https://a.example:8443/", "https://a.example:8443"), ("https://[::1]:443", "https://[::1]"),
                      ("https://xn--bcher-kva.example", "https://xn--bcher-kva.example")])
    func webOrigins(text: String, serialized: String) {
        #expect(WebOrigin(text)?.serialized == serialized)
    }

    @Test("WebOrigin: not an origin",
          arguments: ["", "https://", "https://a.example/path", "ftp://a.example", "https://u@a.example", "https://a.example:",
                      "https://a.example:99999", "https://a .example", "https://mastoon.\u{18}exam\u{0}ae", "https://bücher.example",
                      "https://[zz]", "https://a.example:+1", "null", "https://a..example", "https://.a.example", "https://a.example:0"])
    func notOrigins(text: String) {
        #expect(WebOrigin(text) == nil)
    }

    @Test("image.decode: a format turned off is served as it is, refused (415) where a conversion is the answer, and shown in /metrics")
    func decodeSwitch() {
        let png = TestImages.png(TestImages.photo(width: 300, height: 200), kind: .rgb)
        let handler = Self.handler(Self.serving(png, type: "image/png")) { $0.image.decode = ["jpeg", "gif", "webp", "avif", "heif"] }
        let plain = Self.get(handler, Self.query("https://remote.example/a.png"), accept: "image/avif,*/*")
        #expect(plain.status == 200 && plain.body == png && plain.header("Content-Type") == "image/png")
        let emoji = Self.get(handler, Self.query("https://remote.example/a.png", "&emoji"))
        #expect(emoji.status == 415 && emoji.header("X-Herd-Error") == "decoder_off", "\(emoji.status)")
        let metrics = RecordingWriter()
        handler.handle(params: RecordedParams("GET", "/metrics"), output: metrics)
        let text = String(decoding: metrics.body, as: UTF8.self)
        #expect(text.contains("herd_decoder_enabled{format=\"png\"} 0") && text.contains("herd_decoder_enabled{format=\"jpeg\"} 1"))
        // On Mastodon's route too: the PNG as it came, not converted.
        let mastodon = MediaPathTests.handler(MediaPathTests.imageOrigin()) { $0.image.decode = ["jpeg"] }
        let writer = MediaPathTests.serve(mastodon, RecordedParams("GET", "/media/photo.png", ["HTTP_ACCEPT": "image/avif,*/*"]))
        #expect(writer.status == 200 && writer.header("Content-Type") == "image/png" && writer.body == MediaPathTests.photo)
    }

    @Test("review mends: a proxy loop is refused unfetched; a long name is cut; a big video streams without a transform; a 203 is held and transformed")
    func mends() {
        let remote = Self.serving(Self.photo)
        let handler = Self.handler(remote)
        let loop = Self.get(handler, Self.query("https://media.example/proxy/image.webp?url=https://x.example/a.png"),
                            headers: ["SERVER_NAME": "media.example"])
        #expect(loop.status == 403 && loop.header("X-Herd-Error") == "proxy_loop" && remote.asked.isEmpty)
        let long = Self.get(handler, Self.query("https://remote.example/" + String(repeating: "!", count: 500) + ".jpg"), accept: "*/*")
        #expect(long.status == 200 && (long.header("Content-Disposition")?.count ?? 0) < 600)
        // A video larger than image.max_source_bytes, no transform: streamed, not refused.
        let video = [UInt8](repeating: 7, count: 300_000)
        let big = Self.get(Self.handler(Self.serving(video, type: "video/mp4")) { $0.image.maxSourceBytes = 100_000 },
                           Self.query("https://remote.example/v.mp4"))
        #expect(big.status == 200 && big.body.count == video.count && big.header("Content-Type") == "video/mp4")
        // A 203 with an emoji asked for: held and made an emoji, never streamed at full size.
        let nonAuthoritative = ScriptedOrigin { _ in .init(status: 203, headers: [("Content-Type", "image/jpeg")], body: Self.photo) }
        let emoji = Self.get(Self.handler(nonAuthoritative), Self.query(Self.remoteURL, "&emoji"))
        #expect(emoji.status == 200 && Self.size(emoji).map { $0.1 == 128 } == true, "\(String(describing: emoji.status))")
    }
}

