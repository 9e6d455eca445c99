import Foundation

/// The whole deployment as an admin would run it: nginx with a shipped
/// server aggregator (herd/mastodon.conf or herd/akkoma.conf), the app
/// upstream pointing at the stand-in origin (app pages and media), and a
/// herd worker behind the media routes.
final class AppStack: @unchecked Sendable {
    enum Flavor: String { case mastodon, akkoma }

    let directory: URL
    let origin: ChildProcess
    let originPort: UInt16
    let herd: ChildProcess
    let nginx: ChildProcess
    let port: UInt16

    init(_ flavor: Flavor = .mastodon) throws {
        directory = try Paths.temporaryDirectory("app")
        let portFile = directory.appendingPathComponent("origin.port").path
        origin = try ChildProcess(
            name: "origin", executable: "/usr/bin/env",
            arguments: ["python3", Paths.originScript, "--test-hooks", "--root", Paths.demoMedia, "--port-file", portFile],
            directory: directory)
        guard Wait.until(timeout: 10, { FileManager.default.fileExists(atPath: portFile) }),
              let text = try? String(contentsOfFile: portFile, encoding: .utf8), let originPort = UInt16(text) else {
            origin.stop()
            throw HTTPClientError(description: "origin did not start: \(origin.log)")
        }
        self.originPort = originPort
        let socket = directory.appendingPathComponent("herd-0.sock").path
        herd = try Stack.startHerd(
            arguments: ["--bind", socket, "--upstream", "http://127.0.0.1:\(originPort)", "--threads", "16",
                        "--set", "server.socket_mode=0666"],
            socket: socket, directory: directory)
        port = RawHTTP.freePort()
        try NginxConfig.render(into: directory, herdSockets: [socket], appPort: originPort)
        try FileManager.default.createDirectory(at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        let preamble = NginxConfig.preamble(directory: directory)
        let config = """
        \(preamble.main)
        http {
        \(preamble.http)
            include herd/http.conf;
            include herd/upstreams/\(flavor.rawValue).conf;
        \(preamble.accessLog)
            server {
                listen 127.0.0.1:\(port);
                server_name localhost;
                include herd/\(flavor.rawValue).conf;
            }
        }
        """
        try config.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        nginx = try ChildProcess(
            name: "nginx", executable: Paths.nginxBinary,
            arguments: ["-p", directory.path + "/", "-c", directory.appendingPathComponent("nginx.conf").path],
            directory: directory)
        guard Wait.until(timeout: 10, { RawHTTP.isListening(port: port) || !nginx.isRunning }), nginx.isRunning else {
            let errors = (try? String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
            stop()
            throw HTTPClientError(description: "nginx did not start: \(nginx.log) \(errors)")
        }
    }

    func stop() {
        nginx.stop()
        herd.stop()
        origin.stop()
    }

    deinit { stop() }

    func get(_ target: String, method: String = "GET", headers: [(String, String)] = [], timeout: Double = 30) throws -> HTTPResponse {
        try RawHTTP.request(port: port, method: method, target: target, headers: headers, timeout: timeout)
    }

    /// Requests the origin saw for a path (any query, any Accept).
    func originCount(_ path: String) throws -> Int {
        try stats()["hits"].flatMap { $0 as? [String: Int] }?.filter { $0.key == path || $0.key.hasPrefix(path + "?") }
            .values.reduce(0, +) ?? 0
    }

    /// Requests the origin saw for a path, per Accept bucket.
    func originVariants(_ path: String) throws -> [String: Int] {
        var result: [String: Int] = [:]
        for (key, count) in (try stats()["variants"] as? [String: Int]) ?? [:] {
            let parts = key.split(separator: "|")
            if parts.count == 2, parts[0] == path { result[String(parts[1])] = count }
        }
        return result
    }

    private func stats() throws -> [String: Any] {
        let response = try RawHTTP.request(port: originPort, target: "/__stats")
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]) ?? [:]
    }
}
