import Foundation

/// The shipped nginx files (deploy/nginx), rendered into a test's directory
/// with the install paths pointed at it: cache directories, the error page,
/// herd's sockets and the app's port. Everything else is used as shipped.
enum NginxConfig {
    static var shipped: URL { Paths.repository.appendingPathComponent("deploy/nginx") }

    static func render(into directory: URL, herdSockets: [String], appPort: UInt16) throws {
        let fm = FileManager.default
        let target = directory.appendingPathComponent("herd")
        try? fm.removeItem(at: target)
        try fm.copyItem(at: shipped, to: target)
        let cache = directory.appendingPathComponent("cache").path
        try fm.createDirectory(atPath: cache, withIntermediateDirectories: true)
        try fm.createDirectory(at: directory.appendingPathComponent("tmp"), withIntermediateDirectories: true)
        let upstreamLines = herdSockets.map { "    server unix:\($0) max_fails=0;" }.joined(separator: "\n")
        let enumerator = fm.enumerator(at: target, includingPropertiesForKeys: nil)!
        for case let file as URL in enumerator where file.pathExtension == "conf" {
            var text = try String(contentsOf: file, encoding: .utf8)
            text = text.replacingOccurrences(of: "/var/cache/nginx/herd", with: cache)
            text = text.replacingOccurrences(of: "/etc/nginx/herd/errors", with: target.appendingPathComponent("errors").path)
            text = text.replacingOccurrences(of: "127.0.0.1:3000", with: "127.0.0.1:\(appPort)")
            text = text.replacingOccurrences(of: "127.0.0.1:4000", with: "127.0.0.1:\(appPort)")
            if file.lastPathComponent == "upstream-herd.conf" {
                text = text.replacingOccurrences(
                    of: "    server unix:/run/herd/herd-0.sock max_fails=0;\n    server unix:/run/herd/herd-1.sock max_fails=0;",
                    with: upstreamLines)
            }
            try text.write(to: file, atomically: true, encoding: .utf8)
        }
    }

    /// Starts nginx on `directory/nginx.conf` and waits until it listens
    /// on `port`; throws with nginx's own complaint if it does not.
    static func start(directory: URL, port: UInt16) throws -> ChildProcess {
        let nginx = try ChildProcess(
            name: "nginx", executable: Paths.nginxBinary,
            arguments: ["-p", directory.path + "/", "-c", directory.appendingPathComponent("nginx.conf").path],
            directory: directory)
        guard Wait.until(timeout: 10, { RawHTTP.isListening(port: port) || !nginx.isRunning }), nginx.isRunning else {
            let errors = (try? String(contentsOf: directory.appendingPathComponent("error.log"), encoding: .utf8)) ?? ""
            nginx.stop()
            throw HTTPClientError(description: "nginx did not start: \(nginx.log) \(errors)")
        }
        return nginx
    }

    /// The main-context and http-context lines every test nginx needs:
    /// its own pid, logs and temp paths in `directory`.
    /// `accessLog` goes after `herd/http.conf` (or log-format.conf), which defines its format.
    static func preamble(directory: URL) -> (main: String, http: String, accessLog: String) {
        let path = directory.path
        let user = getuid() == 0 ? "user root root;" : ""
        let main = """
            \(user)
            daemon off;
            worker_processes 1;
            pid \(path)/nginx.pid;
            error_log \(path)/error.log warn;
            events { worker_connections 2048; }
            """
        let http = """
                client_body_temp_path \(path)/tmp/body;
                fastcgi_temp_path \(path)/tmp/fastcgi;
                proxy_temp_path \(path)/tmp/proxy;
                uwsgi_temp_path \(path)/tmp/uwsgi;
                scgi_temp_path \(path)/tmp/scgi;
            """
        return (main, http, "    access_log \(path)/access.log herd;")
    }
}
