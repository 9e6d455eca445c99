import Foundation
import HerdTestSupport

/// The shipped nginx files (deploy/nginx), rendered into a test's directory
/// with the install paths pointed at it: cache directories, the error page,
/// herd's sockets and the app's port. Everything else is used as shipped.
enum NginxConfig {
    static var shipped: URL { Paths.repository.appendingPathComponent("deploy/nginx") }

    /// Copies the shipped files into `directory/herd` and writes their
    /// per-install files (herd's sockets, the caches, the app on `appPort`)
    /// with scripts/render-nginx.sh, the renderer the demo and benchmarks use.
    /// `imageFormats` ("jxl,avif,webp"): the variant map is `herd nginx-map`'s
    /// for that order, as the demo writes it; nil keeps the shipped map.
    static func render(into directory: URL, herdSockets: [String], appPort: UInt16, imageFormats: String? = nil,
                       diskRoot: String? = nil) throws {
        let script = Paths.repository.appendingPathComponent("scripts/render-nginx.sh").path
        var environment = imageFormats.map { ["HERD_BIN": Paths.herdBinary, "HERD_IMAGE_FORMATS": $0] } ?? ["HERD_BIN": ""]
        environment["HERD_UPSTREAM_ROOT"] = diskRoot ?? ""
        let renderer = try ChildProcess(name: "render-nginx", executable: "/bin/bash",
                                        arguments: [script, directory.path, "http://127.0.0.1:\(appPort)"] + herdSockets,
                                        environment: environment, directory: directory)
        guard renderer.waitForExit(timeout: 30) == 0 else {
            throw HTTPClientError(description: "scripts/render-nginx.sh failed: \(renderer.log)")
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

    /// The shipped maps a media location needs (the variant, bypasses,
    /// request ids), for test configurations that include them one by one;
    /// their servers include herd/server/defaults.conf.
    static let mediaMaps = """
            include herd/http/accept-variant.conf;
            include herd/http/cluster.conf;
            include herd/http/app-key.conf;
            include herd/http/request-id.conf;
            include herd/install/image-formats.conf;
            include herd/http/image-variant.conf;
            include herd/http/public-files.conf;
            include herd/http/bypass.conf;
            include herd/http/variables-hash.conf;
        """

    /// The main-context and http-context lines every test nginx needs: its
    /// own pid, logs and temp paths in `directory`, as scripts/render-nginx.sh
    /// writes them for the demo and the benchmarks too (scratch-main.conf,
    /// scratch-http.conf). `accessLog` goes after `herd/http.conf` (or
    /// log-format.conf), which defines its format.
    static func preamble(directory: URL) -> (main: String, http: String, accessLog: String) {
        let path = directory.path
        let script = Paths.repository.appendingPathComponent("scripts/render-nginx.sh").path
        if let renderer = try? ChildProcess(name: "render-scratch", executable: "/bin/bash", arguments: [script, "--scratch", path],
                                            environment: ["NGINX_CONNECTIONS": "2048", "NGINX_ERROR_LOG": "warn"],
                                            directory: directory) {
            _ = renderer.waitForExit(timeout: 30)
        }
        return ("include \(path)/scratch-main.conf;", "    include \(path)/scratch-http.conf;",
                "    access_log \(path)/access.log herd;")
    }
}
