import Foundation
import Testing
import HerdTestSupport

/// deploy/prometheus and deploy/grafana against a real Prometheus (Debian's)
/// scraping every worker of a running stack through nginx.
@Suite("Prometheus and Grafana", .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/prometheus")
                && FileManager.default.isExecutableFile(atPath: "/usr/bin/promtool"),
                "no Prometheus: scripts/install-deps.sh installs Debian's prometheus"))
struct PrometheusTests {
    static var shipped: URL { Paths.repository.appendingPathComponent("deploy/prometheus") }

    static func promtool(_ arguments: [String], in directory: URL) throws -> (status: Int32, output: String) {
        let tool = try ChildProcess(name: "promtool-\(UUID().uuidString.prefix(6))", executable: "/usr/bin/promtool",
                                    arguments: arguments, directory: directory)
        return (tool.waitForExit(timeout: 60) ?? -1, tool.log)
    }

    /// The shipped job with its targets pointed at nginx on `port`, and the
    /// shipped rules, scraped and evaluated every second.
    static func config(nginxPort: UInt16, directory: URL) throws -> URL {
        let job = try String(contentsOf: shipped.appendingPathComponent("herd.yml"), encoding: .utf8)
            .replacingOccurrences(of: "127.0.0.1:80\"", with: "127.0.0.1:\(nginxPort)\"")
            .replacingOccurrences(of: "scrape_interval: 15s", with: "scrape_interval: 1s")
        let text = """
        global:
          scrape_interval: 1s
          evaluation_interval: 1s
        rule_files:
          - \(shipped.appendingPathComponent("herd-alerts.yml").path)
        \(job)
        """
        let file = directory.appendingPathComponent("prometheus.yml")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    static func query(_ port: UInt16, _ expression: String) throws -> [[String: Any]] {
        let encoded = expression.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? expression
        let response = try RawHTTP.request(port: port, target: "/api/v1/query?query=\(encoded)")
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        guard json?["status"] as? String == "success" else {
            throw HTTPClientError(description: "query \(expression): \(response.text)")
        }
        return ((json?["data"] as? [String: Any])?["result"] as? [[String: Any]]) ?? []
    }

    @Test("promtool: the shipped rules are valid and their unit tests pass; the scrape config is valid")
    func promtoolChecks() throws {
        let directory = try Paths.temporaryDirectory("promtool")
        let rules = try Self.promtool(["check", "rules", Self.shipped.appendingPathComponent("herd-alerts.yml").path], in: directory)
        #expect(rules.status == 0 && rules.output.contains("4 rules found"), "\(rules.output)")
        let tests = try Self.promtool(["test", "rules", Self.shipped.appendingPathComponent("herd-alerts.test.yml").path], in: directory)
        #expect(tests.status == 0 && tests.output.contains("SUCCESS"), "\(tests.output)")
        let config = try Self.promtool(["check", "config", try Self.config(nginxPort: 8080, directory: directory).path], in: directory)
        #expect(config.status == 0, "\(config.output)")
    }

    @Test("a real Prometheus scrapes every worker through nginx; every dashboard query and every rule has data")
    func scrapesEveryWorker() throws {
        let stack = try AppStack(workers: 2)
        defer { stack.stop() }
        // Each worker's own metrics, by index; an index nginx does not know: refused.
        for index in 0..<2 {
            let metrics = try stack.get("/_herd/metrics/\(index)")
            #expect(metrics.status == 200 && metrics.text.contains("herd_requests_in_flight"), "worker \(index)")
        }
        #expect(try stack.get("/_herd/metrics/7").status == 403)

        let directory = try Paths.temporaryDirectory("prometheus")
        let port = RawHTTP.freePort()
        let prometheus = try ChildProcess(name: "prometheus", executable: "/usr/bin/prometheus", arguments: [
            "--config.file=\(try Self.config(nginxPort: stack.port, directory: directory).path)",
            "--storage.tsdb.path=\(directory.appendingPathComponent("data").path)",
            "--web.listen-address=127.0.0.1:\(port)", "--log.level=warn",
        ], directory: directory)
        defer { prometheus.stop() }
        #expect(Wait.until(timeout: 30, {
            ((try? Self.query(port, "up{job=\"herd\"} == 1")) ?? []).count == 2
        }), "both workers up: \(prometheus.log)")

        // Traffic over both workers: conversions, passthrough, 404s.
        let images = ["/system/media_attachments/files/000/000/001/original/photo.jpg",
                      "/system/media_attachments/files/000/000/003/original/water.jpg",
                      "/system/accounts/avatars/000/000/001/original/avatar.jpg",
                      "/system/custom_emojis/images/000/000/001/original/blobcat.png"]
        for round in 0..<3 {
            for path in images {
                for accept in [ConversionTests.chrome, "image/webp,*/*", "*/*"] {
                    _ = try stack.get("\(path)?round=\(round)", headers: [("Accept", accept)])
                }
            }
            _ = try stack.get("/system/media_attachments/files/000/000/404/original/missing-\(round).jpg")
            Thread.sleep(forTimeInterval: 1.5)
        }
        Thread.sleep(forTimeInterval: 3)

        let dashboard = try JSONSerialization.jsonObject(with: Data(contentsOf: Paths.repository
            .appendingPathComponent("deploy/grafana/herd-dashboard.json"))) as? [String: Any]
        let panels = try #require(dashboard?["panels"] as? [[String: Any]])
        #expect(panels.count >= 10)
        var checked = 0
        for panel in panels {
            for target in (panel["targets"] as? [[String: Any]]) ?? [] {
                let expression = try #require(target["expr"] as? String)
                    .replacingOccurrences(of: "$__rate_interval", with: "30s")
                let result = try Self.query(port, expression)
                #expect(!result.isEmpty, "\(panel["title"] ?? "?"): \(expression) returned no data")
                checked += 1
            }
        }
        print("prometheus: \(checked) dashboard queries, all with data")
        // Both workers' series are there, told apart by `worker`.
        let perWorker = try Self.query(port, "sum by (worker) (herd_requests_total{job=\"herd\"})")
        #expect(Set(perWorker.compactMap { ($0["metric"] as? [String: String])?["worker"] }) == ["0", "1"])
        // The rules are loaded and evaluate.
        let rules = try RawHTTP.request(port: port, target: "/api/v1/rules")
        #expect(rules.text.components(separatedBy: "\"health\":\"ok\"").count - 1 == 4, "\(rules.text)")
    }
}
