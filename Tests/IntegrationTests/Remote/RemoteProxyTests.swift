import Foundation
import HerdTestSupport
import Remote
import Testing

/// herd as Akkoma's media proxy, through the shipped nginx configuration,
/// against real servers on other loopback addresses.
@Suite("Signed remote media through nginx", .serialized)
struct RemoteProxyTests {
    static let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"

    static func size(_ bytes: [UInt8]) throws -> String {
        let image = try TestImages.decode(bytes)
        return "\(image.width)x\(image.height)"
    }

    @Test("refused addresses in every spelling, localhost, a redirect to one, ftp/file/gopher: all refused, zero connections accepted")
    func nothingReachesARefusedAddress() throws {
        let listener = try HostileOrigin()  // on 127.0.0.1: counts every connection it accepts
        listener.onPrefix("/", [.send(HostileOrigin.response(body: "you should not see this"))])
        let remotes = try RemoteServers()
        defer { remotes.stop() }
        let port = listener.port
        var hostname = [CChar](repeating: 0, count: 256)
        gethostname(&hostname, hostname.count)
        let spellings = ["127.0.0.1", "2130706433", "0x7f.1", "0x7f000001", "0177.0.0.1", "127.1", "127.000.000.001",
                         "0.0.0.0", "0", "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "[::127.0.0.1]", "[64:ff9b::7f00:1]",
                         "[2002:7f00:1::]", "[::1]", "[::]", "localhost", "LOCALHOST.", "a.localhost", "ip6-localhost",
                         String(cString: hostname)]
        var urls = spellings.map { "http://\($0):\(port)/media/stolen.jpg" }
        urls += ["https://127.0.0.1:\(port)/media/a.jpg", "http://user:pw@127.0.0.2:\(remotes.plainPort)/media/big.jpg",
                 "ftp://127.0.0.1:\(port)/a.jpg", "file:///etc/passwd", "gopher://127.0.0.1:\(port)/1",
                 // An allowed remote that redirects to the listener, in two spellings, and to ftp:
                 "\(remotes.plainBase)/media/r1?status=302&location=http://127.0.0.1:\(port)/media/x.jpg",
                 "\(remotes.plainBase)/media/r2?status=301&location=http://2130706433:\(port)/media/x.jpg",
                 "\(remotes.plainBase)/media/r3?status=307&location=ftp://127.0.0.1:\(port)/x.jpg"]
        var statuses: [String: Int] = [:]
        for url in urls {
            for path in [RemoteServers.signed(url), RemoteServers.signed(url, preview: true),
                         CamoURL.sign(url, key: Array(RemoteServers.camoKey.utf8), hex: true)] {
                let response = try remotes.app.get(path, headers: [("Accept", Self.chrome)])
                statuses[url] = response.status
                #expect([400, 403, 502].contains(response.status), "\(url) via \(path.prefix(15)): \(response.status)")
                #expect(!response.text.contains("you should not see this"))
            }
        }
        print("remote guard: \(urls.count) URLs × 3 routes refused; statuses \(Set(statuses.values).sorted()); "
              + "connections accepted by the listener on 127.0.0.1: \(listener.connections)")
        #expect(listener.connections == 0)
        // The count is real: a connection made on purpose is counted.
        _ = try? RawHTTP.request(port: port, target: "/control", timeout: 5)
        #expect(Wait.until(timeout: 5) { listener.connections == 1 })
        // The redirects were fetched from the allowed remote; the hop was refused.
        #expect(try remotes.plainHits().keys.contains { $0.hasPrefix("/media/r1") })
        let metrics = try remotes.app.metrics()
        #expect(metrics.contains("herd_remote_refusals_total{reason=\"refused_address\",class=\"loopback\"}"))
        #expect(metrics.contains("herd_remote_refusals_total{reason=\"malformed_signed_url\",class=\"\"}"))
    }

    @Test("a bad signature is 403 and a wrong filename 302, nothing fetched; the right URL is fetched once and cached")
    func signatures() throws {
        let remotes = try RemoteServers()
        defer { remotes.stop() }
        let url = "\(remotes.plainBase)/media/big.jpg"
        let good = RemoteServers.signed(url, filename: "big.jpg")
        var forged = Array(good)
        let index = "/proxy/".count
        forged[index] = forged[index] == "A" ? "B" : "A"
        #expect(try remotes.app.get(String(forged)).status == 403)
        let wrongName = try remotes.app.get(RemoteServers.signed(url, filename: "other.jpg"))
        #expect(wrongName.status == 302)
        #expect(wrongName.header("Location") == good)
        #expect(try remotes.plainHits().isEmpty)

        let first = try remotes.app.get(good, headers: [("Accept", Self.chrome)])
        #expect(first.status == 200)
        #expect(first.header("Content-Type") == "image/avif")
        #expect(first.header("Cache-Control") == "public, max-age=1209600")
        #expect(first.header("Content-Security-Policy")?.contains("sandbox") == true)
        #expect(first.header("X-Content-Type-Options") == "nosniff")
        let again = try remotes.app.get(good, headers: [("Accept", Self.chrome)])
        #expect(again.body == first.body)
        #expect(try remotes.plainHits()["/media/big.jpg"] == 1)
    }

    @Test("nginx keys signed URLs on their path and `static` alone: other query strings are HITs; herd's answers agree")
    func queryStringsShareOneEntry() throws {
        let remotes = try RemoteServers()
        defer { remotes.stop() }
        let path = RemoteServers.signed("\(remotes.plainBase)/media/anim.gif", preview: true, filename: "anim.gif")
        let first = try remotes.app.get(path + "?static=true&x=1", headers: [("Accept", "image/webp,*/*")])
        #expect(first.status == 200)
        #expect(first.header("X-Cache-Status") == "MISS")
        let other = try remotes.app.get(path + "?x=2&static=true", headers: [("Accept", "image/webp,*/*")])
        #expect(other.header("X-Cache-Status") == "HIT")
        #expect(other.body == first.body)
        // nginx's $arg_static is the first `static`; herd reads the same one.
        let conflicting = try remotes.app.get(path + "?static=false&static=true", headers: [("Accept", "image/webp,*/*")])
        #expect(conflicting.status == 302)
        let plain = try remotes.app.get(path + "?static=false", headers: [("Accept", "image/webp,*/*")])
        #expect(plain.status == 302)
        // A wrong filename's redirect carries `static` only, whatever else was asked.
        let wrong = try remotes.app.get(RemoteServers.signed("\(remotes.plainBase)/media/anim.gif", preview: true, filename: "x.gif")
                                        + "?junk=1&static=true")
        #expect(wrong.status == 302)
        #expect(wrong.header("Location") == path + "?static=true")
    }

    @Test("previews: a large JPEG within 600 px in the browser's variant, a GIF's static frame, an MP4's first frame; small and animated → 302; HTML is a sandboxed attachment")
    func previews() throws {
        let remotes = try RemoteServers()
        defer { remotes.stop() }
        func timed(_ path: String, accept: String = Self.chrome) throws -> (HTTPResponse, Double) {
            let started = Date()
            let response = try remotes.app.get(path, headers: [("Accept", accept)])
            return (response, Date().timeIntervalSince(started))
        }
        let (jpeg, jpegSeconds) = try timed(RemoteServers.signed("\(remotes.plainBase)/media/big.jpg", preview: true, filename: "big.jpg"))
        #expect(jpeg.status == 200)
        #expect(jpeg.header("Content-Type") == "image/avif")
        let (webp, _) = try timed(RemoteServers.signed("\(remotes.plainBase)/media/big.jpg", preview: true, filename: "big.jpg"),
                                  accept: "image/webp,*/*")
        #expect(webp.header("Content-Type") == "image/webp")
        #expect(try Self.size(webp.body) == "600x450")
        let (jpegOnly, _) = try timed(RemoteServers.signed("\(remotes.plainBase)/media/big.jpg", preview: true, filename: "big.jpg"),
                                      accept: "image/jpeg,*/*")
        #expect(jpegOnly.header("Content-Type") == "image/jpeg")

        let gifPath = RemoteServers.signed("\(remotes.plainBase)/media/anim.gif", preview: true)
        let animated = try remotes.app.get(gifPath, headers: [("Accept", Self.chrome)])
        #expect(animated.status == 302)
        #expect(animated.header("Location") == RemoteServers.signed("\(remotes.plainBase)/media/anim.gif"))
        let (still, _) = try timed(gifPath + "?static=true", accept: "image/webp,*/*")
        #expect(still.status == 200)
        #expect(still.header("Content-Type") == "image/webp")
        #expect(try Self.size(still.body) == "480x360")

        let (video, videoSeconds) = try timed(RemoteServers.signed("\(remotes.plainBase)/media/clip.mp4", preview: true),
                                              accept: "image/webp,*/*")
        #expect(video.status == 200, "\(video.text.prefix(200))")
        #expect(video.header("Content-Type") == "image/webp")
        #expect(try Self.size(video.body) == "600x338")

        let small = try remotes.app.get(RemoteServers.signed("\(remotes.plainBase)/media/small.png", preview: true))
        #expect(small.status == 302)
        #expect(small.header("Location") == RemoteServers.signed("\(remotes.plainBase)/media/small.png"))

        // A video streams with ranges (the remote's 206 passed on, never stored).
        let clip = RemoteServers.signed("\(remotes.plainBase)/media/clip.mp4")
        let range = try remotes.app.get(clip, headers: [("Range", "bytes=0-99")])
        #expect(range.status == 206)
        #expect(range.body.count == 100)
        #expect(range.header("Content-Range")?.hasPrefix("bytes 0-99/") == true)
        let whole = try remotes.app.get(clip)
        #expect(whole.status == 200)
        #expect(Array(whole.body.prefix(100)) == range.body)
        #expect(whole.header("Content-Type") == "video/mp4")

        let html = try remotes.app.get(RemoteServers.signed("\(remotes.plainBase)/media/page.html"))
        #expect(html.status == 200)
        #expect(html.header("Content-Disposition") == "attachment; filename=\"page.html\"")
        #expect(html.header("Content-Security-Policy")?.contains("sandbox") == true)
        #expect(html.header("X-Content-Type-Options") == "nosniff")

        let metrics = try remotes.app.metrics()
        #expect(metrics.contains("herd_video_frames_total{result=\"ok\"} 1"))
        print(String(format: "previews through nginx (cold, fetch included): 2000×1500 JPEG → 600 px AVIF %.0f ms; "
                     + "640×360 MP4 → first frame WebP %.0f ms", jpegSeconds * 1000, videoSeconds * 1000))
        for line in metrics.split(separator: "\n") where line.hasPrefix("herd_video_frame_duration_seconds_sum")
            || line.hasPrefix("herd_preview_duration_seconds_sum") || line.hasPrefix("herd_preview_duration_seconds_count") {
            print("  \(line)")
        }
    }

    @Test("200 concurrent requests for one remote image over three variants: one remote fetch")
    func coalesced() throws {
        let remotes = try RemoteServers()
        defer { remotes.stop() }
        let path = RemoteServers.signed("\(remotes.plainBase)/media/big.jpg?slow=1", filename: "big.jpg")
        let accepts = [Self.chrome, "image/webp,*/*", "image/jpeg,*/*"]
        let results = ResultsBox()
        let group = DispatchGroup()
        for index in 0..<200 {
            group.enter()
            Thread {
                results.append(Result { try remotes.app.get(path, headers: [("Accept", accepts[index % 3])], timeout: 120) })
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 180) == .success)
        let responses = results.all.compactMap { try? $0.get() }
        #expect(responses.count == 200)
        #expect(responses.allSatisfy { $0.status == 200 }, "\(Set(responses.map(\.status)))")
        #expect(Set(responses.compactMap { $0.header("Content-Type") }) == ["image/avif", "image/webp", "image/jpeg"])
        let hits = try remotes.plainHits()
        #expect(hits.values.reduce(0, +) == 1, "\(hits)")
    }

    @Test("an HTTPS remote with a certificate from a test CA (remote.ca_file); go-camo's URL to it too")
    func httpsRemote() throws {
        let remotes = try RemoteServers()
        defer { remotes.stop() }
        let url = "\(remotes.tlsBase)/media/big.jpg"
        let response = try remotes.app.get(RemoteServers.signed(url), headers: [("Accept", "image/webp,*/*")])
        #expect(response.status == 200, "\(response.text.prefix(300))")
        #expect(response.header("Content-Type") == "image/webp")
        let camo = try remotes.app.get(CamoURL.sign(url, key: Array(RemoteServers.camoKey.utf8), hex: false),
                                       headers: [("Accept", "image/webp,*/*")])
        #expect(camo.status == 200)
        #expect(camo.body == response.body)
        // A server whose certificate no trusted CA signed: TLS is verified, 502.
        let script = """
            cd '\(remotes.directory.path)' && openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \\
              -keyout self.key -out self.pem -days 2 -subj '/CN=127.0.0.3' -addext subjectAltName=IP:127.0.0.3 2>/dev/null
            """
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/bin/sh")
        openssl.arguments = ["-c", script]
        try openssl.run()
        openssl.waitUntilExit()
        let (untrusted, untrustedPort) = try Stack.startOrigin(
            root: remotes.directory.appendingPathComponent("root").path, directory: remotes.directory, name: "untrusted",
            extraArguments: ["--host", "127.0.0.3", "--tls-cert", remotes.directory.appendingPathComponent("self.pem").path,
                             "--tls-key", remotes.directory.appendingPathComponent("self.key").path])
        defer { untrusted.stop() }
        let refused = try remotes.app.get(RemoteServers.signed("https://127.0.0.3:\(untrustedPort)/media/big.jpg"))
        #expect(refused.status == 502)
        #expect(refused.header("X-Herd-Error") == "tls")
    }
}
