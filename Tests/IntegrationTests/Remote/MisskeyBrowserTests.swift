import Foundation
import HerdTestSupport
import Testing

/// A Misskey-style page in headless Chromium: its emoji, avatars and
/// previews come through herd's media proxy (`/proxy/…?url=` with the
/// presets Misskey's client adds), as a Misskey client asks for them; the
/// browser decodes each at the preset's size, in the format its own Accept
/// negotiates, and the animated emoji plays.
@Suite("A browser shows a Misskey page's media through herd", .serialized,
       .enabled(if: BrowserTests.chromium != nil, "no Chromium"))
struct MisskeyBrowserTests {
    @Test("emoji 128 high and animated (GIF, WebP and APNG sources), avatar 320 high, preview in 200×200, static in 498×422: decoded by Chromium")
    func misskeyPage() throws {
        let chromium = try #require(BrowserTests.chromium)
        let remotes = try RemoteServers(.misskey, herdArguments: ["--set", "misskey.enabled=true"])
        defer { remotes.stop() }
        let big = MisskeyProxyThroughNginxTests.proxy(remotes.plainBase + "/media/big.jpg")   // 2000×1500
        let gif = MisskeyProxyThroughNginxTests.proxy(remotes.plainBase + "/media/anim.gif", name: "emoji.webp")  // 480×360
        let webp = MisskeyProxyThroughNginxTests.proxy(remotes.plainBase + "/media/anim.webp", name: "emoji.webp")  // 480×360
        let apng = MisskeyProxyThroughNginxTests.proxy(remotes.plainBase + "/media/anim.png", name: "emoji.webp")  // 480×360
        let cases: [(path: String, width: Int, height: Int, animated: Bool)] = [
            (gif + "&emoji=1", 171, 128, true),
            (webp + "&emoji=1", 171, 128, true),
            (apng + "&emoji=1", 171, 128, true),
            (big.replacingOccurrences(of: "/proxy/image.webp", with: "/proxy/avatar.webp") + "&avatar=1", 427, 320, false),
            (big.replacingOccurrences(of: "/proxy/image.webp", with: "/proxy/preview.webp") + "&preview=1", 200, 150, false),
            (big.replacingOccurrences(of: "/proxy/image.webp", with: "/proxy/static.webp") + "&static=1", 498, 374, false),
        ]
        let directory = try Paths.temporaryDirectory("misskey-browser")
        let report = try BrowserTests.browse(chromium: chromium, port: remotes.app.port, paths: cases.map(\.path),
                                             directory: directory, pagePath: "/notes/9abcdef")
        try #require(report.images.count == cases.count)
        for (expected, seen) in zip(cases, report.images) {
            let name = "\(expected.path.prefix(60))… (\(seen.contentType ?? "no type"), \(seen.bytes ?? 0) bytes)"
            print("misskey browser: \(name): \(seen.width)×\(seen.height), \(seen.frames.map(String.init) ?? "no") frames")
            #expect(seen.decoded, "\(name): \(seen.error ?? "not decoded")")
            #expect(seen.width == expected.width && seen.height == expected.height, "\(name): \(seen.width)×\(seen.height)")
            #expect(seen.contentType == "image/avif", "\(name)")
            #expect(seen.animated == expected.animated && ((seen.frames ?? 0) > 1) == expected.animated, "\(name)")
        }
    }
}
