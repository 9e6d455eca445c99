import Foundation
import Testing
import HerdTestSupport

/// Herd dropped into the nginx configurations admins already have, as the
/// README says: fixtures with the structure of Mastodon's dist/nginx.conf
/// and Akkoma's installation/nginx/akkoma.nginx, and every directive of
/// theirs that could clash with Herd's maps, zones, upstreams and locations
/// (Tests/Fixtures/nginx). nginx -t must pass without a warning, and
/// conversions must be served over TLS.
@Suite("Drop-in on the configs admins have", .serialized)
struct DropInTests {
    struct Site {
        let directory: URL
        let nginx: ChildProcess
        let herd: ChildProcess
        let origin: ChildProcess
        let ports: [String: UInt16]
        func stop() { nginx.stop(); herd.stop(); origin.stop() }
    }

    static func certificate(in directory: URL) throws -> (cert: String, key: String) {
        let cert = directory.appendingPathComponent("site.crt").path, key = directory.appendingPathComponent("site.key").path
        let openssl = try ChildProcess(name: "openssl", executable: "/usr/bin/openssl", arguments: [
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=social.example",
            "-addext", "subjectAltName=DNS:social.example,DNS:akkoma.example,DNS:media.akkoma.example",
            "-keyout", key, "-out", cert,
        ], directory: directory)
        guard openssl.waitForExit(timeout: 60) == 0 else { throw HTTPClientError(description: "openssl: \(openssl.log)") }
        return (cert, key)
    }

    /// The fixture, its placeholders filled, inside an http {} with the
    /// README's two lines; nginx -t's output.
    static func start(fixture: String, flavor: String, publicRoot: String) throws -> (Site, String) {
        let directory = try Paths.temporaryDirectory("dropin")
        let (origin, originPort) = try Stack.startOrigin(root: Paths.demoMedia, directory: directory,
                                                         extraArguments: ["--app", flavor])
        let socket = directory.appendingPathComponent("herd.sock").path
        let herd = try Stack.startHerd(arguments: ["--bind", socket, "--upstream", "http://127.0.0.1:\(originPort)",
                                                   "--set", "server.socket_mode=0666"], socket: socket, directory: directory)
        try NginxConfig.render(into: directory, herdSockets: [socket], appPort: originPort, diskRoot: publicRoot)
        let (cert, key) = try certificate(in: directory)
        var ports: [String: UInt16] = [:]
        var text = try String(contentsOf: Paths.repository.appendingPathComponent("Tests/Fixtures/nginx/\(fixture)"), encoding: .utf8)
        for name in ["PORT", "PLAIN_PORT", "MEDIA_PORT"] {
            let port = RawHTTP.freePort()
            ports[name] = port
            text = text.replacingOccurrences(of: "@\(name)@", with: String(port))
        }
        for (placeholder, value) in [("@DIR@", directory.path), ("@CERT@", cert), ("@KEY@", key), ("@PUBLIC@", publicRoot),
                                     ("@APP_PORT@", String(originPort))] {
            text = text.replacingOccurrences(of: placeholder, with: value)
        }
        try text.write(to: directory.appendingPathComponent("site.conf"), atomically: true, encoding: .utf8)
        let preamble = NginxConfig.preamble(directory: directory)
        try """
        \(preamble.main)
        http {
        \(preamble.http)
            include /etc/nginx/mime.types;
            default_type application/octet-stream;
            include herd/http.conf;
            include herd/upstreams/\(flavor).conf;
        \(preamble.accessLog)
            include \(directory.path)/site.conf;
        }
        """.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        let check = try ChildProcess(name: "nginx-t", executable: Paths.nginxBinary,
                                     arguments: ["-t", "-p", directory.path + "/", "-c", directory.appendingPathComponent("nginx.conf").path],
                                     directory: directory)
        _ = check.waitForExit(timeout: 30)
        let nginx = try NginxConfig.start(directory: directory, port: ports["PORT"]!)
        return (Site(directory: directory, nginx: nginx, herd: herd, origin: origin, ports: ports), check.log)
    }

    struct TLSResponse: Decodable {
        let status: Int
        let headers: [String: String]
        let length: Int
        let head: String
    }

    static func tlsGet(port: UInt16, host: String, _ path: String, accept: String = "*/*") throws -> TLSResponse {
        let script = Paths.repository.appendingPathComponent("Tests/IntegrationTests/Harness/tls-get.py").path
        let directory = try Paths.temporaryDirectory("tls-get")
        let get = try ChildProcess(name: "tls-get", executable: "/usr/bin/env",
                                   arguments: ["python3", script, String(port), host, path, accept], directory: directory)
        guard get.waitForExit(timeout: 60) == 0, let line = get.log.split(separator: "\n").last(where: { $0.hasPrefix("{") }) else {
            throw HTTPClientError(description: "tls-get: \(get.log)")
        }
        return try JSONDecoder().decode(TLSResponse.self, from: Data(line.utf8))
    }

    static func publicRoot() throws -> String {
        let root = try Paths.temporaryDirectory("dropin-public")
        try FileManager.default.copyItem(atPath: Paths.demoMedia + "/system", toPath: root.appendingPathComponent("system").path)
        try Data("<!DOCTYPE html><title>500</title>\n".utf8).write(to: root.appendingPathComponent("500.html"))
        try Data("User-agent: *\n".utf8).write(to: root.appendingPathComponent("robots.txt"))
        return root.path
    }

    @Test("Mastodon's dist/nginx.conf with its locations replaced by herd/mastodon.conf: nginx -t clean, conversions over TLS, its cache untouched")
    func mastodonDist() throws {
        let (site, check) = try Self.start(fixture: "mastodon-dist.conf", flavor: "mastodon", publicRoot: try Self.publicRoot())
        defer { site.stop() }
        #expect(check.contains("test is successful"), "\(check)")
        #expect(!check.contains("[warn]") && !check.contains("[emerg]"), "\(check)")
        let port = site.ports["PORT"]!
        let photo = "/system/media_attachments/files/000/000/001/original/photo.jpg"
        let avif = try Self.tlsGet(port: port, host: "social.example", photo, accept: "image/avif,image/webp,*/*")
        #expect(avif.status == 200 && avif.headers["content-type"] == "image/avif", "\(avif)")
        #expect(avif.headers["x-herd-variant"] == "avif")
        #expect(try Self.tlsGet(port: port, host: "social.example", photo, accept: "image/avif,image/webp,*/*").headers["x-cache-status"] == "HIT")
        let page = try Self.tlsGet(port: port, host: "social.example", "/@alice/1", accept: "text/html")
        #expect(page.status == 200 && page.headers["x-cache-variant"] == "html")
        let json = try Self.tlsGet(port: port, host: "social.example", "/users/alice/statuses/1", accept: "application/activity+json")
        #expect(json.status == 200 && json.headers["content-type"]?.contains("activity+json") == true)
        let robots = try Self.tlsGet(port: port, host: "social.example", "/robots.txt")
        #expect(robots.status == 200 && robots.headers["x-cache-variant"] == "file", "public/ from disk")
        let plain = try RawHTTP.request(port: site.ports["PLAIN_PORT"]!, target: "/about", host: "social.example")
        #expect(plain.status == 301)
        // Mastodon's own cache (keys_zone CACHE) holds nothing of Herd's.
        let theirs = site.directory.appendingPathComponent("mastodon-cache").path
        let files = FileManager.default.enumerator(atPath: theirs)?.allObjects.count ?? 0
        #expect(files == 0, "Herd's entries in Mastodon's cache directory")
    }

    @Test("Akkoma's akkoma.nginx, main server and media domain, with Herd's includes: nginx -t clean, uploads converted over TLS on both")
    func akkoma() throws {
        let (site, check) = try Self.start(fixture: "akkoma.conf", flavor: "akkoma", publicRoot: try Self.publicRoot())
        defer { site.stop() }
        #expect(check.contains("test is successful"), "\(check)")
        #expect(!check.contains("[warn]") && !check.contains("[emerg]"), "\(check)")
        let upload = "/media/2f/8a/kite.jpg"
        for (port, host) in [(site.ports["MEDIA_PORT"]!, "media.akkoma.example"), (site.ports["PORT"]!, "akkoma.example")] {
            let webp = try Self.tlsGet(port: port, host: host, upload, accept: "image/webp,*/*")
            #expect(webp.status == 200 && webp.headers["content-type"] == "image/webp", "\(host): \(webp)")
        }
        let other = try Self.tlsGet(port: site.ports["MEDIA_PORT"]!, host: "media.akkoma.example", "/objects/abc")
        #expect(other.status == 404, "the media domain serves media only")
        let object = try Self.tlsGet(port: site.ports["PORT"]!, host: "akkoma.example", "/objects/abc", accept: "application/activity+json")
        #expect(object.status == 200 && object.headers["x-cache-status"] == "MISS")
    }
}
