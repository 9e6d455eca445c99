import FastCGI
import Foundation
import HerdTestSupport
import Testing

/// A worker on TCP answers only the networks `server.allowed_clients` names:
/// anyone else's connection is closed before a record is read (zero answers),
/// and counted. Loopback addresses stand in for two machines: the worker
/// listens on 127.0.0.1 and a peer speaks from 127.0.0.2.
@Suite("Workers on TCP: allowed clients", .serialized)
struct WorkerAdmissionTests {
    static let health: [(String, String)] = [("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "/health"), ("REQUEST_URI", "/health"),
                                             ("QUERY_STRING", "")]

    static func startWorker(port: UInt16, allowed: [String]) throws -> ChildProcess {
        let directory = try Paths.temporaryDirectory("admission")
        var arguments = ["--bind", "127.0.0.1:\(port)", "--upstream", "http://127.0.0.1:9"]
        if !allowed.isEmpty {
            arguments += ["--set", "server.allowed_clients=" + allowed.joined(separator: ",")]
        }
        let herd = try ChildProcess(name: "herd-tcp", executable: Paths.herdBinary, arguments: arguments, directory: directory)
        guard Wait.until(timeout: 10, { (try? FastCGIClient.request(.tcp(host: "127.0.0.1", port: port), params: health)) != nil
                                        || !herd.isRunning }), herd.isRunning else {
            herd.stop()
            throw HTTPClientError(description: "herd did not start: \(herd.log)")
        }
        return herd
    }

    @Test("a peer outside allowed_clients gets no answer, only a closed connection; one inside is served; both counted")
    func refusesOutsiders() throws {
        let port = RawHTTP.freePort()
        // 127.0.0.1 (the test's own checks) and 127.0.0.3 only: 127.0.0.2 is another machine.
        let herd = try Self.startWorker(port: port, allowed: ["127.0.0.1/32", "127.0.0.3/32"])
        defer { herd.stop() }
        let worker = BindAddress.tcp(host: "127.0.0.1", port: port)

        var answers = 0
        var refusals = 0
        for _ in 0..<20 {
            do {
                _ = try FastCGIClient.request(worker, from: "127.0.0.2", params: Self.health)
                answers += 1
            } catch {
                refusals += 1
            }
        }
        #expect(answers == 0 && refusals == 20, "answers \(answers), refusals \(refusals)")
        // A purge from outside is refused the same way: nothing reads it.
        #expect(throws: FastCGIClient.Failure.self) {
            _ = try FastCGIClient.request(worker, from: "127.0.0.2", params: Self.health + [("HERD_PURGE", "1")])
        }
        let allowed = try FastCGIClient.request(worker, from: "127.0.0.3", params: Self.health)
        #expect(String(decoding: allowed, as: UTF8.self).contains("200"), "\(String(decoding: allowed, as: UTF8.self))")

        let metrics = String(decoding: try FastCGIClient.request(worker, params: [
            ("REQUEST_METHOD", "GET"), ("SCRIPT_NAME", "/metrics"), ("REQUEST_URI", "/metrics"), ("QUERY_STRING", ""),
        ]), as: UTF8.self)
        #expect(metrics.contains("herd_refused_connections_total 21"), "\(metrics.split(separator: "\n").filter { $0.contains("refused") })")
        #expect(herd.log.contains("connection refused") && herd.log.contains("127.0.0.2"), "\(herd.log)")
        // At most a line a second: 21 refusals in well under a second or two are not 21 lines.
        #expect(herd.log.components(separatedBy: "connection refused").count - 1 < 21)
    }

    @Test("loopback is the default: every 127.0.0.0/8 peer is served")
    func loopbackByDefault() throws {
        let port = RawHTTP.freePort()
        let herd = try Self.startWorker(port: port, allowed: [])
        defer { herd.stop() }
        let answer = try FastCGIClient.request(.tcp(host: "127.0.0.1", port: port), from: "127.0.0.2", params: Self.health)
        #expect(String(decoding: answer, as: UTF8.self).contains("200"))
    }

    @Test("a non-loopback bind without allowed_clients does not start (exit 2, naming the key)")
    func refusesToStartOpen() throws {
        for bind in ["0.0.0.0:9000", "[::]:9000", "10.1.2.3:9000"] {
            let run = try PackageTests.run(Paths.herdBinary, ["check-config", "--bind", bind, "--upstream", "https://example.social"])
            #expect(run.status == 2 && run.output.contains("server.allowed_clients"), "\(bind): \(run.output)")
        }
        let open = try PackageTests.run(Paths.herdBinary, ["check-config", "--bind", "0.0.0.0:9000", "--upstream", "https://example.social",
                                                           "--set", "server.allowed_clients=10.0.0.0/24,fd00::/8"])
        #expect(open.status == 0, "\(open.output)")
        let bad = try PackageTests.run(Paths.herdBinary, ["check-config", "--bind", "0.0.0.0:9000", "--upstream", "https://example.social",
                                                          "--set", "server.allowed_clients=10.0.0.0/33"])
        #expect(bad.status == 2 && bad.output.contains("server.allowed_clients"), "\(bad.output)")
        // An IPv4 peer of a dual-stack socket is matched as IPv4: a mapped network would never match.
        let mapped = try PackageTests.run(Paths.herdBinary, ["check-config", "--bind", "[::]:9000", "--upstream", "https://example.social",
                                                             "--set", "server.allowed_clients=::ffff:10.0.0.0/104"])
        #expect(mapped.status == 2 && mapped.output.contains("IPv4-mapped"), "\(mapped.output)")
    }
}
