import Basics
import Foundation
import Testing
import System
#if canImport(Glibc)
import Glibc
#endif

/// Zero-downtime restarts: with herd@N.socket owning each worker's socket
/// (socket activation), restarting every worker under load refuses no
/// request, even with nginx's retry to another worker turned off.
@Suite("Socket activation")
struct SocketActivationTests {
    /// nginx as shipped but for `fastcgi_next_upstream off`: a refused
    /// connection would reach the client as a 502. And without kept-alive
    /// connections to the workers, so that what is counted is refusals: a
    /// worker that stops closes its idle kept connections, and nginx may
    /// write a request into one in the instant before it sees the close
    /// (about one request in a few thousand here, under 8 clients). The
    /// shipped `fastcgi_next_upstream error` retries that request on
    /// another worker (PoolTests restart under load with it: 0 failed).
    static func noRetry(_ herd: URL) throws {
        for (file, from, to) in [("server/media-fastcgi.conf", "fastcgi_next_upstream         error timeout;", "fastcgi_next_upstream         off;"),
                                 ("server/media-fastcgi.conf", "fastcgi_keep_conn on;", "fastcgi_keep_conn off;"),
                                 ("http/upstream-herd.conf", "    keepalive 16;", "")] {
            let url = herd.appendingPathComponent(file)
            let text = try String(contentsOf: url, encoding: .utf8)
            let patched = text.replacingOccurrences(of: from, with: to)
            #expect(patched != text, "\(file): \(from)")
            try patched.write(to: url, atomically: true, encoding: .utf8)
        }
    }

    struct LoadResult {
        var ok = 0
        var failed = 0
        var failures: [String] = []
    }

    /// Eight clients request media through nginx (a new query each time:
    /// never a cache hit, always a worker) while `restarts` runs.
    static func underLoad(_ stack: AppStack, restarts: () throws -> Void) throws -> LoadResult {
        let counts = Locked(LoadResult())
        let running = Locked(true)
        let group = DispatchGroup()
        for client in 0..<8 {
            group.enter()
            Thread.detachNewThread {
                defer { group.leave() }
                var sequence = 0
                while running.withLock({ $0 }) {
                    sequence += 1
                    let target = "\(PassthroughTests.photo)?client=\(client)&n=\(sequence)"
                    do {
                        let response = try stack.get(target, headers: [("Accept", "*/*")], timeout: 30)
                        counts.withLock {
                            if response.status == 200, response.body.count > 1000 { $0.ok += 1 } else {
                                $0.failed += 1
                                $0.failures.append("\(response.status) \(response.header("X-Herd-Error") ?? "")")
                            }
                        }
                    } catch {
                        counts.withLock { $0.failed += 1; $0.failures.append("\(error)") }
                    }
                }
            }
        }
        Thread.sleep(forTimeInterval: 1)
        defer {
            running.withLock { $0 = false }
            group.wait()
        }
        try restarts()
        Thread.sleep(forTimeInterval: 0.5)
        return counts.withLock { $0 }
    }

    @Test("every worker restarted twice under load with fastcgi_next_upstream off: no connection refused, 0 failed requests")
    func restartsUnderLoad() throws {
        let stack = try AppStack(workers: 2, socketActivated: true, patchNginx: Self.noRetry)
        defer { stack.stop() }
        var pids: [Int32] = []
        let result = try Self.underLoad(stack) {
            for _ in 0..<2 {
                for index in stack.workers.indices {
                    try stack.restartActivatedWorker(index)
                    pids.append(stack.activatedWorkerPID(index) ?? -1)
                    Thread.sleep(forTimeInterval: 0.3)  // the new worker takes load before the next restart
                }
            }
        }
        print("socket activation: \(result.ok) requests served, \(result.failed) failed over 4 restarts (workers \(pids))")
        #expect(result.failed == 0, "\(result.failures.prefix(10))")
        #expect(result.ok > 200)
        #expect(Set(pids).count == 4, "every restart started a new process")
        #expect(stack.workers.map(\.log).joined().contains("(from systemd)"), "the workers used the inherited socket")
    }

    @Test("the control: the same restarts without socket activation do fail requests (the test can tell)")
    func restartsWithoutActivationFail() throws {
        let stack = try AppStack(workers: 2, patchNginx: Self.noRetry)
        defer { stack.stop() }
        let result = try Self.underLoad(stack) {
            for _ in 0..<2 {
                for index in stack.workers.indices {
                    stack.workers[index].stop()
                    try stack.restartWorker(index)
                    Thread.sleep(forTimeInterval: 0.3)
                }
            }
        }
        print("without socket activation: \(result.ok) requests served, \(result.failed) failed over 4 restarts")
        #expect(result.failed > 0)
    }
}
