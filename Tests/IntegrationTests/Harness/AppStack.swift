import Foundation
#if canImport(Glibc)
import Glibc
import HerdTestSupport
#endif

/// The whole deployment as an admin would run it: nginx with a shipped
/// server aggregator (herd/mastodon.conf or herd/akkoma.conf), the app
/// upstream pointing at the stand-in origin (app pages and media), and a
/// herd worker behind the media routes.
final class AppStack: @unchecked Sendable {
    enum Flavor: String { case mastodon, akkoma, misskey }

    let directory: URL
    let origin: ChildProcess
    let originPort: UInt16
    private(set) var workers: [ChildProcess]
    var herd: ChildProcess { workers[0] }
    let sockets: [String]
    private let herdArguments: [String]
    let nginx: ChildProcess
    let port: UInt16
    /// `herd purge-server` on DIR/purge.sock, when the stack has a purge secret.
    private(set) var purgeServer: ChildProcess?

    /// `workers` herd processes behind `upstream herd` (hash by source), as
    /// the systemd pool runs them. `upstreamURL` points herd (the media
    /// routes) at another origin; app pages still go to the stand-in.
    /// `imageFormats` ("jxl,avif,webp") sets image.formats on both sides:
    /// the workers' and nginx's variant map (`herd nginx-map`).
    /// `socketActivated`: each worker gets its socket as systemd's
    /// herd@N.socket hands it over (Harness/socket-activate.py holds it;
    /// `restartWorker` restarts as `systemctl restart` does).
    /// `patchNginx` edits the rendered files before nginx starts;
    /// `serverLines` go into the server block after the aggregator (an
    /// admin's `set $herd_authorized_fetch 1;`). `originArguments` go to
    /// the stand-in (demo/origin.py: `--app akkoma`, `--authorized-fetch`).
    /// `purgeSecret` starts `herd purge-server` with it (purges over HTTP),
    /// with `purgeArguments` (`--set purge.repeat_after=1`).
    init(_ flavor: Flavor = .mastodon, workers count: Int = 1, herdArguments extra: [String] = [],
         upstreamURL: String? = nil, imageFormats: String? = nil, diskRoot: String? = nil, socketActivated: Bool = false,
         originArguments: [String] = [], serverLines: String = "", purgeSecret: String? = nil, purgeArguments: [String] = [],
         patchNginx: ((URL) throws -> Void)? = nil) throws {
        directory = try Paths.temporaryDirectory("app")
        // The stand-in answers as the flavour's app does, unless told otherwise.
        let appArguments = originArguments.contains("--app") ? originArguments : ["--app", flavor.rawValue] + originArguments
        (origin, originPort) = try Stack.startOrigin(root: Paths.demoMedia, directory: directory, extraArguments: appArguments)
        let originPort = self.originPort
        let directory = self.directory
        sockets = (0..<count).map { directory.appendingPathComponent("herd-\($0).sock").path }
        herdArguments = ["--upstream", upstreamURL ?? "http://127.0.0.1:\(originPort)", "--set", "server.socket_mode=0666"]
            + (imageFormats.map { ["--set", "image.formats=\($0)"] } ?? [])
            + (diskRoot.map { ["--set", "upstream.root=\($0)"] } ?? []) + extra
        self.socketActivated = socketActivated
        workers = []
        for (index, socket) in sockets.enumerated() {
            if socketActivated {
                workers.append(try Self.startActivated(arguments: ["--bind", socket] + herdArguments, socket: socket,
                                                       directory: directory, name: "herd-\(index)"))
            } else {
                workers.append(try Stack.startHerd(arguments: ["--bind", socket] + herdArguments, socket: socket,
                                                   directory: directory, name: "herd-\(index)"))
            }
        }
        if let purgeSecret {
            let socket = directory.appendingPathComponent("purge.sock").path
            let server = try ChildProcess(name: "purge-server", executable: Paths.herdBinary, arguments: [
                "purge-server", "--bind", socket, "--set", "server.socket_mode=0666",
                "--set", "purge.cache_dir=\(directory.appendingPathComponent("cache/media").path)",
                "--set", "purge.sockets=\(sockets.joined(separator: ","))",
            ] + purgeArguments, environment: ["HERD_PURGE_SECRET": purgeSecret], directory: directory)
            guard Wait.until(timeout: 10, { Stack.unixSocketAccepts(socket) || !server.isRunning }), server.isRunning else {
                server.stop()
                throw HTTPClientError(description: "herd purge-server did not start: \(server.log)")
            }
            purgeServer = server
        }
        port = RawHTTP.freePort()
        try NginxConfig.render(into: directory, herdSockets: sockets, appPort: originPort, imageFormats: imageFormats,
                               diskRoot: diskRoot)
        try patchNginx?(directory.appendingPathComponent("herd"))
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
                \(serverLines)
            }
        }
        """
        try config.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        do {
            nginx = try NginxConfig.start(directory: directory, port: port)
        } catch {
            purgeServer?.stop()
            for worker in workers { worker.stop() }
            origin.stop()
            throw error
        }
    }

    func stop() {
        nginx.stop()
        purgeServer?.stop()
        for worker in workers { worker.stop() }
        origin.stop()
    }

    let socketActivated: Bool

    /// The supervisor (standing in for systemd) with herd under it.
    static func startActivated(arguments: [String], socket: String, directory: URL, name: String) throws -> ChildProcess {
        let script = Paths.repository.appendingPathComponent("Tests/IntegrationTests/Harness/socket-activate.py").path
        let pidFile = directory.appendingPathComponent("\(name).pid").path
        let supervisor = try ChildProcess(name: name, executable: "/usr/bin/env",
                                          arguments: ["python3", script, socket, pidFile, "--", Paths.herdBinary] + arguments,
                                          directory: directory)
        guard Wait.until(timeout: 10, { FileManager.default.fileExists(atPath: pidFile) && Stack.unixSocketAccepts(socket) }) else {
            supervisor.stop()
            throw HTTPClientError(description: "the socket-activated herd did not start: \(supervisor.log)")
        }
        return supervisor
    }

    /// The pid of the herd process under worker `index`'s supervisor.
    func activatedWorkerPID(_ index: Int) -> Int32? {
        let file = directory.appendingPathComponent("herd-\(index).pid").path
        return (try? String(contentsOfFile: file, encoding: .utf8)).flatMap { Int32($0) }
    }

    /// `systemctl restart herd@N` with socket activation: SIGTERM, wait,
    /// start again on the same socket. Returns once the new worker runs.
    func restartActivatedWorker(_ index: Int) throws {
        let old = activatedWorkerPID(index)
        workers[index].signal(SIGHUP)
        guard Wait.until(timeout: 30, { self.activatedWorkerPID(index).map { $0 != old } ?? false }) else {
            throw HTTPClientError(description: "worker \(index) was not restarted: \(workers[index].log)")
        }
    }

    /// Starts worker `index` again (after it exited or was killed).
    func restartWorker(_ index: Int) throws {
        _ = workers[index].waitForExit(timeout: 5)
        workers[index] = try Stack.startHerd(arguments: ["--bind", sockets[index]] + herdArguments, socket: sockets[index],
                                             directory: directory, name: "herd-\(index)-\(Int(Date().timeIntervalSince1970 * 1000) % 100000)")
    }

    /// Requests the origin saw, per path with query.
    func originHits() throws -> [String: Int] {
        let response = try RawHTTP.request(port: originPort, target: "/__stats")
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return json?["hits"] as? [String: Int] ?? [:]
    }

    /// A request straight to one worker's /metrics, through nginx's status
    /// location when there is a single worker.
    func metrics() throws -> String {
        try get("/_herd/metrics").text
    }

    deinit { stop() }

    func get(_ target: String, method: String = "GET", headers: [(String, String)] = [], timeout: Double = 30) throws -> HTTPResponse {
        try RawHTTP.request(port: port, method: method, target: target, headers: headers, timeout: timeout)
    }

    /// The headers of the last request the origin saw for a path.
    func lastOriginHeaders(_ path: String) throws -> [String: String] {
        let response = try RawHTTP.request(port: originPort, target: "/__last?path=\(path)")
        return (try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: String]) ?? [:]
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
