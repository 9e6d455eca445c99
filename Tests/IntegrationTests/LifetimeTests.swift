import Foundation
import HerdTestSupport
import Testing

/// How long answers live, where the files and the README say: media per
/// location (herd's Cache-Control, made from the location's lifetimes),
/// redirects short, the microcache article's 404 lifetimes, assets for
/// their whole lifetime; and what nginx sends from disk without the app or
/// herd (Mastodon's public/).
@Suite("Lifetimes and files from disk", .serialized)
struct LifetimeTests {
    static let photo = "/system/media_attachments/files/000/000/001/original/photo.jpg"
    static let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"

    static func maxAge(_ response: HTTPResponse) -> Int? {
        guard let value = response.header("Cache-Control"), let range = value.range(of: "max-age=") else { return nil }
        return Int(value[range.upperBound...].prefix { $0.isNumber })
    }

    @Test("media: /system/ 6 h, its 404 5 min; /media_proxy/ 10 min, its 404 1 min; a redirect without a lifetime 60 s, never cache.ttl")
    func mediaLifetimes() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let converted = try stack.get(Self.photo, headers: [("Accept", Self.chrome)])
        #expect(converted.status == 200 && Self.maxAge(converted) == 21600, "\(converted.header("Cache-Control") ?? "none")")
        let original = try stack.get(Self.photo, headers: [("Accept", "*/*")])
        #expect(Self.maxAge(original) == 21600)
        let missing = try stack.get("/system/media_attachments/files/000/000/404/original/gone.jpg")
        #expect(missing.status == 404 && Self.maxAge(missing) == 300, "\(missing.header("Cache-Control") ?? "none")")
        #expect(try stack.get("/system/media_attachments/files/000/000/404/original/gone.jpg").header("X-Cache-Status") == "HIT")

        let redirect = try stack.get("/system/cache/x/original/moved.jpg?status=302&location=https://files.example/y.jpg")
        #expect(redirect.status == 302 && Self.maxAge(redirect) == 60, "\(redirect.header("Cache-Control") ?? "none")")
        let ownLifetime = try stack.get("/system/cache/x/original/moved2.jpg?status=301&location=https://files.example/y.jpg&cc=max-age%3D30")
        #expect(Self.maxAge(ownLifetime) == 30, "a redirect's own lifetime is kept")

        let proxied = try stack.get("/media_proxy/1/original", headers: [("Accept", "*/*")])
        #expect(proxied.status == 302 && Self.maxAge(proxied) == 600, "\(proxied.header("Cache-Control") ?? "none")")
        let proxyMissing = try stack.get("/media_proxy/2/original?status=404")
        #expect(proxyMissing.status == 404 && Self.maxAge(proxyMissing) == 60, "\(proxyMissing.header("Cache-Control") ?? "none")")
    }

    @Test("replies: a shared 404 is kept 10 s, a 200 30 s; assets live in a zone that keeps them their 7 days")
    func appLifetimes() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let gone = "/users/alice/statuses/101/replies?cc=public"
        #expect(try stack.get(gone, headers: [("Accept", "application/activity+json")]).status == 404)
        #expect(try stack.get(gone, headers: [("Accept", "application/activity+json")]).header("X-Cache-Status") == "HIT")
        let zones = try String(contentsOf: NginxConfig.shipped.appendingPathComponent("install/cache-zones.conf"), encoding: .utf8)
        let assets = try #require(zones.split(separator: "\n").first { $0.contains("keys_zone=herd_assets:") })
        let inactive = try #require(assets.range(of: "inactive=").map { assets[$0.upperBound...].prefix { $0.isNumber } })
        #expect(assets.contains("inactive=\(inactive)d") && Int(inactive)! >= 7, "\(assets)")
        let config = try String(contentsOf: NginxConfig.shipped.appendingPathComponent("server/mastodon/assets.conf"), encoding: .utf8)
        #expect(config.contains("proxy_cache            herd_assets;") && config.contains("proxy_cache_valid      200 301 302 7d;"))
        let pack = "/packs/js/app-1a2b.js"
        #expect(try stack.get(pack).header("X-Cache-Variant") == "asset")
        #expect(try stack.get(pack).header("X-Cache-Status") == "HIT")
    }

    /// A Mastodon public/ with its static files and the demo's media.
    static func publicRoot() throws -> URL {
        let root = try Paths.temporaryDirectory("public")
        try FileManager.default.copyItem(atPath: Paths.demoMedia + "/system", toPath: root.appendingPathComponent("system").path)
        for (path, text) in [("packs/js/application-5e1f.js", "console.log('from disk');\n"), ("robots.txt", "User-agent: *\n"),
                             ("sw.js", "self.addEventListener('push', () => {});\n"), ("emoji/1f600.svg", "<svg/>\n")] {
            let url = root.appendingPathComponent(path)
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(text.utf8).write(to: url)
        }
        return root
    }

    @Test("Mastodon's public/ on this machine: static files from disk with Mastodon's Cache-Control, the rest to the app; the app never asked")
    func publicFiles() throws {
        let root = try Self.publicRoot()
        let stack = try AppStack(diskRoot: root.path)
        defer { stack.stop() }
        for (path, lifetime) in [("/packs/js/application-5e1f.js", 2419200), ("/robots.txt", 2419200), ("/sw.js", 604800),
                                 ("/emoji/1f600.svg", 2419200)] {
            let response = try stack.get(path)
            let expected = try Data(contentsOf: root.appendingPathComponent(String(path.dropFirst())))
            #expect(response.status == 200 && response.body == Array(expected), "\(path)")
            #expect(response.header("Cache-Control") == "public, max-age=\(lifetime), must-revalidate", "\(path)")
            #expect(response.header("X-Cache-Variant") == "file")
            #expect(try stack.originCount(path) == 0, "\(path) reached the app")
        }
        // Not on disk: the app (and the assets cache), as without a public/.
        #expect(try stack.get("/packs/js/missing-0000.js").status == 200)
        #expect(try stack.originCount("/packs/js/missing-0000.js") == 1)
        let home = try stack.get("/", headers: [("Accept", "text/html")])
        let homeHits = try stack.originCount("/")
        #expect(home.status == 200 && homeHits == 1, "a directory is not a file: / goes to the app")
    }

    @Test("/system/ from disk: videos and originals for clients without a converted variant straight from nginx; conversions, HEIC and symlinks through herd")
    func directMedia() throws {
        let root = try Self.publicRoot()
        let link = root.appendingPathComponent("system/media_attachments/files/000/000/001/original/link.jpg")
        try FileManager.default.createSymbolicLink(atPath: link.path, withDestinationPath: "photo.jpg")
        let stack = try AppStack(diskRoot: root.path)
        defer { stack.stop() }
        func herdRequests() throws -> Int {
            let text = try stack.get("/_herd/metrics/0").text
            return text.split(separator: "\n").filter { $0.hasPrefix("herd_requests_total{") && !$0.contains("route=\"metrics\"") }
                .compactMap { Int(Double($0.split(separator: " ").last ?? "") ?? 0) }.reduce(0, +)
        }
        let before = try herdRequests()
        let photo = try stack.get(Self.photo, headers: [("Accept", "*/*")])
        let file = Array(try Data(contentsOf: root.appendingPathComponent(String(Self.photo.dropFirst()))))
        #expect(photo.status == 200 && photo.body == file && photo.header("X-Herd-Source") == "disk")
        #expect(photo.header("Vary") == "Accept" && Self.maxAge(photo) == 21600 && photo.header("X-Content-Type-Options") == "nosniff")
        let video = "/system/media_attachments/files/000/000/002/original/clip.mp4"
        let range = try stack.get(video, headers: [("Accept", Self.chrome), ("Range", "bytes=0-99")])
        #expect(range.status == 206 && range.body.count == 100)
        #expect(try herdRequests() == before, "herd was asked for what nginx sends itself")

        let avif = try stack.get(Self.photo, headers: [("Accept", Self.chrome)])
        #expect(avif.header("X-Herd-Variant") == "avif")
        let heic = try stack.get("/system/media_attachments/files/000/000/004/original/iphone.heic", headers: [("Accept", "*/*")])
        #expect(heic.header("Content-Type") == "image/jpeg", "a HEIC original is never sent to a browser")
        let viaLink = try stack.get("/system/media_attachments/files/000/000/001/original/link.jpg", headers: [("Accept", "*/*")])
        #expect(viaLink.status == 200 && viaLink.body == file, "a symlink within the root: herd's to answer")
        #expect(try herdRequests() == before + 3)
        // What nginx makes of a request for a file it sends (416, 412) is never stored: no-store
        // (beside the lifetime nginx added before it knew, which no-store overrides: RFC 9111 §5.2).
        let unsatisfiable = try stack.get(Self.photo, headers: [("Accept", "*/*"), ("Range", "bytes=999999-")])
        #expect(unsatisfiable.status == 416 && unsatisfiable.headers(named: "Cache-Control").contains("no-store"),
                "\(unsatisfiable.headers)")
        let failed = try stack.get(Self.photo, headers: [("Accept", "*/*"), ("If-Match", "\"nope\"")])
        #expect(failed.status == 412 && failed.headers(named: "Cache-Control").contains("no-store"), "\(failed.headers)")
    }

    @Test("a symlink in public/ is never followed by nginx (to a secret beside the root); a root that is not a plain absolute path serves nothing")
    func publicSymlinks() throws {
        let root = try Self.publicRoot()
        try Data("SECRET_KEY_BASE=topsecret\n".utf8).write(to: root.deletingLastPathComponent().appendingPathComponent("env.production"))
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("leak.txt").path,
                                                   withDestinationPath: "../env.production")
        try FileManager.default.createSymbolicLink(atPath: root.appendingPathComponent("packs/leak.js").path,
                                                   withDestinationPath: "../../env.production")
        let stack = try AppStack(diskRoot: root.path)
        defer { stack.stop() }
        for path in ["/leak.txt", "/packs/leak.js"] {
            let answer = try stack.get(path)
            #expect(!answer.text.contains("topsecret"), "\(path) served through a symlink")
            #expect(try stack.originCount(path) == 1, "\(path) goes to the app instead")
        }
        let dotted = try AppStack(patchNginx: { herd in
            try "set $herd_public_root /..;\nlocation ^~ /_herd_files/ { internal; alias /nonexistent/; }\n"
                .write(to: herd.appendingPathComponent("install/disk-files.conf"), atomically: true, encoding: .utf8)
        })
        defer { dotted.stop() }
        #expect(!(try dotted.get("/etc/passwd").text.contains("root:")), "a root of /.. served the file system")
    }
}
