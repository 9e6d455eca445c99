import Foundation
import Testing
import HerdTestSupport

/// The shipped templates as files: valid for Debian's nginx, clean for
/// gixy, and the image-variant map agreeing with herd's Accept table.
@Suite("nginx configuration files")
struct NginxConfigTests {
    /// A template in deploy/nginx/sites/: the raw value is its file name.
    enum Template: String, CaseIterable, Sendable {
        case mastodon, akkoma, akkomaMedia = "akkoma-media", mastodonFiles = "mastodon-files"
        case edge, mediaNode = "media-node"
        case misskey, misskeyMedia = "misskey-media"

        /// Its server_name, which its certificate paths are named after.
        var host: String {
            switch self {
            case .mastodon: "mastodon.example"
            case .akkoma: "akkoma.example"
            case .akkomaMedia: "media.example.tld"
            case .mastodonFiles: "files.example.social"
            case .edge: "mastodon.example"
            case .mediaNode: "-"
            case .misskey: "misskey.example"
            case .misskeyMedia: "media.misskey.example"
            }
        }

        /// The upstreams file its http {} context includes.
        var upstreams: String {
            switch self {
            case .mastodon, .mastodonFiles, .edge, .mediaNode: "mastodon"
            case .akkoma, .akkomaMedia: "akkoma"
            case .misskey, .misskeyMedia: "misskey"
            }
        }
    }

    /// A directory with the shipped files rendered, a self-signed
    /// certificate and a main config that includes the site template.
    static func renderSite(_ template: Template) throws -> URL {
        let directory = try Paths.temporaryDirectory("site")
        try NginxConfig.render(into: directory, herdSockets: [directory.appendingPathComponent("herd.sock").path], appPort: 3999)
        let cert = directory.appendingPathComponent("cert.pem").path, key = directory.appendingPathComponent("key.pem").path
        let openssl = Process()
        openssl.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        openssl.arguments = ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                             "-days", "2", "-subj", "/CN=\(template.host)"]
        openssl.standardOutput = FileHandle.nullDevice
        openssl.standardError = FileHandle.nullDevice
        try openssl.run()
        openssl.waitUntilExit()
        var site = try String(contentsOf: directory.appendingPathComponent("herd/sites/\(template.rawValue).conf"), encoding: .utf8)
        site = site.replacingOccurrences(of: "/etc/letsencrypt/live/\(template.host)/fullchain.pem", with: cert)
            .replacingOccurrences(of: "/etc/letsencrypt/live/\(template.host)/privkey.pem", with: key)
            .replacingOccurrences(of: "/var/log/nginx", with: directory.path)
            .replacingOccurrences(of: "/var/cache/nginx-herd", with: directory.appendingPathComponent("cache").path)
            // The templates' private addresses: loopback here, where nothing else listens on them.
            .replacingOccurrences(of: "10.0.0.21:8080", with: "127.0.0.21:8080").replacingOccurrences(of: "10.0.0.11:8080", with: "127.0.0.11:8080")
        try site.write(to: directory.appendingPathComponent("site.conf"), atomically: true, encoding: .utf8)
        let preamble = NginxConfig.preamble(directory: directory)
        let main = """
        \(preamble.main.replacingOccurrences(of: "daemon off;", with: "worker_rlimit_nofile 8192;"))
        http {
        \(preamble.http)
            include herd/http.conf;
            include herd/upstreams/\(template.upstreams).conf;
            include site.conf;
        }
        """
        try main.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        return directory
    }

    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }

    static var gixy: String? {
        for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
            let path = "\(directory)/gixy"
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return nil
    }

    @Test("nginx -t passes for every site template", arguments: Template.allCases)
    func nginxTest(template: Template) throws {
        let directory = try Self.renderSite(template)
        let result = try Self.run(Paths.nginxBinary, ["-t", "-p", directory.path + "/", "-c", directory.appendingPathComponent("nginx.conf").path])
        #expect(result.status == 0, "\(result.output)")
        #expect(!result.output.contains("[warn]"), "\(result.output)")
    }

    @Test("gixy-ng reports nothing for any site template", .enabled(if: gixy != nil || ProcessInfo.processInfo.environment["CI"] != nil),
          arguments: Template.allCases)
    func gixyClean(template: Template) throws {
        let gixy = try #require(Self.gixy, "gixy-ng is not installed (pip install gixy-ng); CI installs it")
        let directory = try Self.renderSite(template)
        let result = try Self.run(gixy, [directory.appendingPathComponent("nginx.conf").path])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("No issues found") || (result.output.contains("Medium: 0") && result.output.contains("High: 0")
            && result.output.contains("Low: 0")), "\(result.output)")
    }

    @Test("the shipped variant map is what `herd nginx-map` prints for the default image.formats")
    func shippedMapIsGenerated() throws {
        let directory = try Paths.temporaryDirectory("nginx-map")
        let herd = try ChildProcess(name: "nginx-map", executable: Paths.herdBinary, arguments: ["nginx-map"],
                                    directory: directory)
        #expect(herd.waitForExit(timeout: 30) == 0)
        let shipped = try String(contentsOf: NginxConfig.shipped.appendingPathComponent("install/image-formats.conf"), encoding: .utf8)
        #expect(herd.log == shipped, "deploy/nginx/install/image-formats.conf is stale: run `herd nginx-map > deploy/nginx/install/image-formats.conf`")
    }

    @Test("nginx's variant map, generated by `herd nginx-map` for each order, gives what herd's Accept table says for every vector",
          arguments: try AcceptTable.orders())
    func variantMapMatchesTable(order: String) throws {
        let directory = try Paths.temporaryDirectory("map")
        // The default order through the shipped file, the others as `herd nginx-map` writes them.
        try NginxConfig.render(into: directory, herdSockets: ["/nonexistent.sock"], appPort: 3999,
                               imageFormats: order == "avif,webp" ? nil : order)
        let port = RawHTTP.freePort()
        let preamble = NginxConfig.preamble(directory: directory)
        let config = """
        \(preamble.main)
        http {
        \(preamble.http)
        \(NginxConfig.mediaMaps)
            server {
                listen 127.0.0.1:\(port);
                include herd/server/defaults.conf;
                location = /variant { return 200 "$herd_image_variant"; }
            }
        }
        """
        try config.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        let nginx = try NginxConfig.start(directory: directory, port: port)
        defer { nginx.stop() }
        let vectors = try AcceptTable.load()
        #expect(vectors.count >= 40)
        for vector in vectors {
            let expected = try #require(vector.expected[order])
            let headers = vector.accept.map { [("Accept", $0)] } ?? []
            let response = try RawHTTP.request(port: port, target: "/variant", headers: headers)
            #expect(response.text == expected, "\(vector.name), order \(order): nginx says \(response.text), herd's table \(expected)")
        }
    }
}

/// Tests/Fixtures/accept-vectors.tsv, as nginx sees it: the expected
/// variant per `image.formats` order (the header row's columns).
enum AcceptTable {
    struct Vector {
        let name: String
        let accept: String?
        let expected: [String: String]
    }

    static func rows() throws -> [[String]] {
        let text = try String(contentsOf: Paths.repository.appendingPathComponent("Tests/Fixtures/accept-vectors.tsv"), encoding: .utf8)
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
    }

    static func orders() throws -> [String] {
        Array((try rows().first ?? []).dropFirst(2))
    }

    static func load() throws -> [Vector] {
        let rows = try rows()
        guard let header = rows.first else { return [] }
        return rows.dropFirst().compactMap { fields in
            guard fields.count == header.count else { return nil }
            var expected: [String: String] = [:]
            for (order, variant) in zip(header.dropFirst(2), fields.dropFirst(2)) { expected[order] = variant }
            return Vector(name: fields[0], accept: fields[1] == "<none>" ? nil : fields[1] == "<empty>" ? "" : fields[1], expected: expected)
        }
    }
}
