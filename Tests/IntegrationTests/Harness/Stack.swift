import Foundation
#if canImport(Glibc)
import Glibc
import HerdTestSupport
#endif

/// A real deployment on loopback: the stand-in origin, one herd worker on a
/// unix socket, and Debian's nginx in front using the shipped snippets.
/// Every test makes its own, on free ports, and stops it by pid.
final class Stack: @unchecked Sendable {
    let directory: URL
    let origin: ChildProcess
    let originPort: UInt16
    private(set) var herd: ChildProcess
    let herdSocket: String
    let nginx: ChildProcess
    let nginxPort: UInt16
    private let herdArguments: [String]

    struct Options {
        /// Extra flags for herd (e.g. `--set upstream.timeout=1`).
        var herdArguments: [String] = []
        /// Point herd at this origin instead of the stand-in (e.g. a dead port).
        var upstreamURL: String? = nil
        /// Files the origin serves besides the demo media, by URL path.
        var files: [String: [UInt8]] = [:]
        /// nginx takes the image variant from `format=` (`$herd_cloudflare 1`).
        var cloudflare = false
        /// Extra flags for the stand-in origin (`--bucket --s3-credentials …`).
        var originArguments: [String] = []
    }

    /// The origin's document root: a copy of the demo media plus `files`.
    let originRoot: URL

    init(_ options: Options = Options()) throws {
        directory = try Paths.temporaryDirectory("stack")
        originRoot = directory.appendingPathComponent("media")
        try FileManager.default.copyItem(atPath: Paths.demoMedia, toPath: originRoot.path)
        for (path, bytes) in options.files {
            let url = originRoot.appendingPathComponent(String(path.drop { $0 == "/" }))
            try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: url)
        }

        (origin, originPort) = try Stack.startOrigin(root: originRoot.path, directory: directory, extraArguments: options.originArguments)
        let port = originPort

        // herd
        herdSocket = directory.appendingPathComponent("herd.sock").path
        herdArguments = [
            "--bind", herdSocket,
            "--upstream", options.upstreamURL ?? "http://127.0.0.1:\(port)",
            "--threads", "8",
        ] + options.herdArguments
        herd = try Stack.startHerd(arguments: herdArguments, socket: herdSocket, directory: directory)

        // nginx
        nginxPort = RawHTTP.freePort()
        try Stack.writeNginxConfig(directory: directory, port: nginxPort, herdSocket: herdSocket, originPort: port, cloudflare: options.cloudflare)
        do {
            nginx = try NginxConfig.start(directory: directory, port: nginxPort)
        } catch {
            herd.stop()
            origin.stop()
            throw error
        }
    }

    /// The stand-in origin (demo/origin.py with its test hooks) on a free port.
    /// `extraArguments`: `--host 127.0.0.2` for a remote server, `--tls-cert …`.
    static func startOrigin(root: String, directory: URL, name: String = "origin",
                            extraArguments: [String] = []) throws -> (ChildProcess, UInt16) {
        let portFile = directory.appendingPathComponent("\(name).port").path
        let origin = try ChildProcess(
            name: name, executable: "/usr/bin/env",
            arguments: ["python3", Paths.originScript, "--test-hooks", "--root", root, "--port-file", portFile] + extraArguments,
            directory: directory)
        guard Wait.until(timeout: 10, { FileManager.default.fileExists(atPath: portFile) }),
              let text = try? String(contentsOfFile: portFile, encoding: .utf8), let port = UInt16(text) else {
            origin.stop()
            throw HTTPClientError(description: "origin did not start: \(origin.log)")
        }
        return (origin, port)
    }

    static func startHerd(arguments: [String], socket: String, directory: URL, name: String = "herd") throws -> ChildProcess {
        let herd = try ChildProcess(name: name, executable: Paths.herdBinary, arguments: arguments, directory: directory)
        guard Wait.until(timeout: 10, { Stack.unixSocketAccepts(socket) || !herd.isRunning }), herd.isRunning else {
            herd.stop()
            throw HTTPClientError(description: "herd did not start: \(herd.log)")
        }
        return herd
    }

    /// Starts a new herd with the same arguments (after the old one exited).
    func restartHerd() throws {
        herd.stop()
        herd = try Stack.startHerd(arguments: herdArguments, socket: herdSocket, directory: directory, name: "herd-restarted")
    }

    func stop() {
        nginx.stop()
        herd.stop()
        origin.stop()
    }

    deinit { stop() }

    // MARK: Requests

    /// A request through nginx.
    func get(_ target: String, method: String = "GET", headers: [(String, String)] = [], timeout: Double = 30,
             discardBody: Bool = false) throws -> HTTPResponse {
        try RawHTTP.request(port: nginxPort, method: method, target: target, headers: headers, timeout: timeout, discardBody: discardBody)
    }

    /// Requests the origin saw, per path with query.
    func originHits() throws -> [String: Int] {
        let response = try RawHTTP.request(port: originPort, target: "/__stats")
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return json?["hits"] as? [String: Int] ?? [:]
    }

    func originTotal() throws -> (requests: Int, connections: Int) {
        let response = try RawHTTP.request(port: originPort, target: "/__stats")
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        // /__stats itself is one connection.
        return (json?["requests"] as? Int ?? -1, (json?["connections"] as? Int ?? 0) - 1)
    }

    /// Headers of the last request the origin saw for `path`.
    func originLastHeaders(_ path: String) throws -> [String: String] {
        let encoded = path.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? path
        let response = try RawHTTP.request(port: originPort, target: "/__last?path=\(encoded)")
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: String]) ?? [:]
    }

    /// The file the stand-in origin serves for a path, to compare bytes with.
    func originFile(_ path: String) throws -> [UInt8] {
        try [UInt8](Data(contentsOf: originRoot.appendingPathComponent(String(path.drop { $0 == "/" }))))
    }

    // MARK: Setup helpers

    /// nginx with the shipped maps and FastCGI parameters, but every path
    /// sent to herd and no media cache, so a test sees herd's own answer
    /// for each request (its 404s and 400s rather than nginx's).
    static func writeNginxConfig(directory: URL, port: UInt16, herdSocket: String, originPort: UInt16, cloudflare: Bool) throws {
        try NginxConfig.render(into: directory, herdSockets: [herdSocket], appPort: originPort)
        let preamble = NginxConfig.preamble(directory: directory)
        let config = """
        \(preamble.main)
        http {
        \(preamble.http)
        \(NginxConfig.mediaMaps)
            include herd/http/log-format.conf;
        \(preamble.accessLog)
            upstream herd {
                server unix:\(herdSocket);
                keepalive 8;
            }
            server {
                listen 127.0.0.1:\(port);
                server_name localhost;
                include herd/server/defaults.conf;
                set $herd_cloudflare \(cloudflare ? 1 : 0);
                include herd/server/status.conf;
                location / {
                    include herd/server/media-fastcgi.conf;
                }
            }
        }
        """
        try config.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
    }

    static func unixSocketAccepts(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            let bytes = Array(path.utf8)
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        } == 0
    }
}
