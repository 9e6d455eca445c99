import Foundation
import HerdTestSupport
import Imaging
import Testing

/// herd as Misskey's external media proxy, through the shipped
/// herd/misskey.conf, against a real server on another loopback address
/// (127.0.0.2, let in by remote.allow_networks) and the stand-in Misskey
/// app (demo/fediverse.py's misskey flavour).
@Suite("Misskey media proxy through nginx", .serialized)
struct MisskeyProxyThroughNginxTests {
    static let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"

    static func proxy(_ url: String, _ extra: String = "", name: String = "image.webp") -> String {
        "/proxy/\(name)?url=" + (url.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? url) + extra
    }

    static func size(_ bytes: [UInt8]) -> (Int, Int)? {
        guard let info = bytes.withUnsafeBytes({ try? Probe.run($0, limits: ImageLimits()) }) else { return nil }
        return (info.width, info.height)
    }

    @Test("every query of the specification: sizes by decoding, the badge's alpha, lifetimes, one fetch for all, the key holds the whole query")
    func specification() throws {
        let remotes = try RemoteServers(.misskey, herdArguments: ["--set", "misskey.enabled=true"])
        defer { remotes.stop() }
        let app = remotes.app
        let big = remotes.plainBase + "/media/big.jpg"  // 2000×1500
        let expected: [(String, (Int, Int))] = [
            ("", (2000, 1500)), ("&emoji=1", (171, 128)), ("&avatar=1", (427, 320)), ("&static=1", (498, 374)),
            ("&preview=1", (200, 150)), ("&emoji=1&static=1", (171, 128)),
        ]
        for (extra, dimensions) in expected {
            let response = try app.get(Self.proxy(big, extra), headers: [("Accept", Self.chrome)])
            #expect(response.status == 200 && response.header("Content-Type") == "image/avif", "\(extra): \(response.status)")
            let got = Self.size(response.body)
            #expect(got.map { $0 == dimensions } == true, "\(extra): \(String(describing: got))")
            #expect(response.header("Cache-Control") == "max-age=31536000, immutable")
            #expect(response.header("Content-Security-Policy")?.contains("img-src 'self'") == true)
            #expect(response.header("Content-Disposition")?.hasPrefix("inline; filename=\"big.jpg") == true)
            #expect(response.header("Vary") == "Accept")
            let again = try app.get(Self.proxy(big, extra), headers: [("Accept", Self.chrome)])
            #expect(again.header("X-Cache-Status") == "HIT" && again.body == response.body, "\(extra)")
        }
        // WebP for a client that names it; a badge.
        let webp = try app.get(Self.proxy(big, "&emoji=1"), headers: [("Accept", "image/webp,*/*")])
        #expect(webp.header("Content-Type") == "image/webp" && webp.header("X-Cache-Status") == "MISS")
        let badge = try app.get(Self.proxy(big, "&badge=1"), headers: [("Accept", Self.chrome)])
        #expect(badge.header("Content-Type") == "image/png")
        let image = try TestImages.decode(badge.body)
        #expect(image.width == 96 && image.height == 96 && image.channels == 4)
        #expect(Set(stride(from: 3, to: image.pixels.count, by: 4).map { image.pixels[$0] }).count > 16)
        // One fetch of the remote file for every preset and variant.
        let hits = try remotes.plainHits()
        #expect(hits["/media/big.jpg"] == 1, "\(hits)")
        // Another url is another entry (the key holds the whole query).
        let small = try app.get(Self.proxy(remotes.plainBase + "/media/small.png", "&emoji=1"), headers: [("Accept", Self.chrome)])
        #expect(small.header("X-Cache-Status") == "MISS" && Self.size(small.body).map { $0 == (64, 48) } == true)
        // An animated GIF stays animated as an emoji.
        let gif = try app.get(Self.proxy(remotes.plainBase + "/media/anim.gif", "&emoji"), headers: [("Accept", "image/webp,*/*")])
        let info = gif.body.withUnsafeBytes { try? Probe.run($0, limits: ImageLimits()) }
        #expect(gif.header("Content-Type") == "image/webp" && info?.isAnimated == true && info?.height == 128)
        // An APNG emoji, re-encoded: a HEAD first, then what nginx stores is
        // what a GET returns, for a later HEAD, a range and a conditional.
        let apng = Self.proxy(remotes.plainBase + "/media/anim.png", "&emoji")
        let webpOnly = [("Accept", "image/webp,*/*")]
        let head = try app.get(apng, method: "HEAD", headers: webpOnly)
        let full = try app.get(apng, headers: webpOnly)
        let apngInfo = full.body.withUnsafeBytes { try? Probe.run($0, limits: ImageLimits()) }
        #expect(head.status == 200 && full.status == 200 && apngInfo?.isAnimated == true && apngInfo?.height == 128, "\(full.status)")
        let laterHead = try app.get(apng, method: "HEAD", headers: webpOnly)
        #expect(laterHead.header("X-Cache-Status") == "HIT" && laterHead.header("Content-Length") == String(full.body.count))
        let range = try app.get(apng, headers: webpOnly + [("Range", "bytes=0-99")])
        #expect(range.status == 206 && range.body == Array(full.body.prefix(100)))
        let etag = try #require(full.header("ETag"))
        let conditional = try app.get(apng, headers: webpOnly + [("If-None-Match", etag)])
        #expect(conditional.status == 304 && conditional.body.isEmpty)
        #expect(try app.get(apng, headers: webpOnly).body == full.body)
        // url missing: 400, max-age=300.
        let missing = try app.get("/proxy/image.webp?emoji=1")
        #expect(missing.status == 400 && missing.header("Cache-Control") == "max-age=300")
    }

    @Test("fallback on a dead remote; HTML refused; SVG (billion laughs, an external reference) never served as SVG and nothing fetched from it")
    func failures() throws {
        let remotes = try RemoteServers(.misskey, herdArguments: ["--set", "misskey.enabled=true"])
        defer { remotes.stop() }
        let app = remotes.app
        let dead = "http://127.0.0.2:1/media/gone.png"
        let error = try app.get(Self.proxy(dead))
        #expect(error.status >= 500 && error.header("Cache-Control") == "max-age=300", "\(error.status)")
        let fallback = try app.get(Self.proxy(dead, "&fallback=1"))
        #expect(fallback.status == 200 && fallback.header("Content-Type") == "image/png" && fallback.header("Cache-Control") == "max-age=300")
        #expect(try TestImages.decode(fallback.body).width > 0)
        let html = try app.get(Self.proxy(remotes.plainBase + "/media/page.html"))
        #expect(html.status == 403 && !html.text.contains("pwned"))
        // A billion laughs: refused by the parser in the child (415); an
        // external reference: rasterized without it (rsvg-convert reads
        // stdin: no base, nothing loaded). Never SVG either way.
        for name in ["laughs.svg", "external.svg"] {
            for extra in ["", "&static=1", "&emoji=1"] {
                let svg = try app.get(Self.proxy(remotes.plainBase + "/media/" + name, extra), headers: [("Accept", Self.chrome)])
                #expect(svg.header("Content-Type")?.contains("svg") != true && !svg.text.contains("<svg"), "\(name)\(extra): \(svg.status)")
                if name == "laughs.svg" {
                    #expect(svg.status == 415, "\(name)\(extra): \(svg.status)")
                } else {
                    // AVIF, or the PNG raster when that is smaller (never worse).
                    #expect(svg.status == 200 && ["image/avif", "image/png"].contains(svg.header("Content-Type") ?? ""),
                            "\(name)\(extra): \(svg.status) \(svg.header("Content-Type") ?? "-")")
                }
            }
        }
        #expect(try remotes.plainHits()["/track.png"] == nil)
    }

    @Test("an open proxy made safe: the signed routes' refused spellings, through this route, open zero connections")
    func refusedSpellings() throws {
        let listener = try HostileOrigin()
        listener.onPrefix("/", [.send(HostileOrigin.response(body: "you should not see this"))])
        let remotes = try RemoteServers(.misskey, herdArguments: ["--set", "misskey.enabled=true"])
        defer { remotes.stop() }
        let port = listener.port
        let spellings = ["127.0.0.1", "2130706433", "0x7f.1", "0x7f000001", "0177.0.0.1", "127.1", "127.000.000.001",
                         "0.0.0.0", "0", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
                         "[2002:7f00:1::]", "[::1]", "[::]", "localhost", "LOCALHOST.", "a.localhost", "ip6-localhost"]
        var urls = spellings.map { "http://\($0):\(port)/media/stolen.jpg" }
        urls += ["https://127.0.0.1:\(port)/media/a.jpg", "http://user:pw@127.0.0.2:\(remotes.plainPort)/media/big.jpg",
                 "ftp://127.0.0.1:\(port)/a.jpg", "file:///etc/passwd", "gopher://127.0.0.1:\(port)/1",
                 "\(remotes.plainBase)/media/r1?status=302&location=http://127.0.0.1:\(port)/media/x.jpg",
                 "\(remotes.plainBase)/media/r2?status=301&location=http://2130706433:\(port)/media/x.jpg"]
        for url in urls {
            for extra in ["", "&emoji=1", "&preview=1&fallback=1"] {
                let response = try remotes.app.get(Self.proxy(url, extra), headers: [("Accept", Self.chrome)])
                #expect(!response.text.contains("you should not see this"), "\(url)")
                if extra.contains("fallback") {
                    #expect(response.status == 200 && response.header("Content-Type") == "image/png", "\(url): \(response.status)")
                } else {
                    #expect([400, 403, 502].contains(response.status), "\(url)\(extra): \(response.status)")
                }
            }
        }
        #expect(listener.connections == 0)
    }

    @Test("the Misskey app behind the microcache: public ActivityPub notes and SSR pages cached by their own lifetimes, the API never")
    func appMicrocache() throws {
        let remotes = try RemoteServers(.misskey, herdArguments: ["--set", "misskey.enabled=true"])
        defer { remotes.stop() }
        let app = remotes.app
        let activity = [("Accept", "application/activity+json")]
        let first = try app.get("/notes/9abcdef", headers: activity)
        #expect(first.status == 200 && first.header("Cache-Control") == "public, max-age=180" && first.header("X-Cache-Status") == "MISS")
        #expect(try app.get("/notes/9abcdef", headers: activity).header("X-Cache-Status") == "HIT")
        let page = try app.get("/notes/9abcdef", headers: [("Accept", "text/html")])
        #expect(page.header("X-Cache-Status") == "MISS" && page.text.contains("misskey note"))
        #expect(try app.get("/notes/9abcdef", headers: [("Accept", "text/html")]).header("X-Cache-Status") == "HIT")
        let meta = try app.get("/api/meta", method: "POST", headers: [("Content-Type", "application/json")])
        #expect(meta.text.contains("mediaProxy") && meta.header("X-Cache-Status") != "HIT")
    }

    @Test("misskey.allowed_origins through nginx: the page's Origin or Referer reaches herd; a refusal is never stored")
    func allowedOrigins() throws {
        let remotes = try RemoteServers(.misskey, herdArguments: ["--set", "misskey.enabled=true",
                                                                 "--set", "misskey.allowed_origins=https://misskey.example"])
        defer { remotes.stop() }
        let url = Self.proxy(remotes.plainBase + "/media/small.png", "&emoji=1")
        let refused = try remotes.app.get(url)
        #expect(refused.status == 403 && refused.header("Cache-Control") == "no-store")
        let allowed = try remotes.app.get(url, headers: [("Referer", "https://misskey.example/notes/1")])
        #expect(allowed.status == 200, "\(allowed.status): a stored refusal would answer 403 here")
        let byOrigin = try remotes.app.get(url, headers: [("Origin", "https://misskey.example")])
        #expect(byOrigin.status == 200)
    }
}

