import Foundation
import Testing
#if canImport(Glibc)
import Glibc
import HerdTestSupport
#endif

@Suite("Streaming and process lifecycle", .serialized)
struct StreamingAndLifecycleTests {
    @Test("a 200 MB body streams through with herd's memory growing by less than 20 MB")
    func largeBodyStreams() throws {
        let size = 200_000_000
        let stack = try Stack(.init(herdArguments: ["--set", "upstream.max_body_size=300MB"]))
        defer { stack.stop() }
        // Warm up the thread and connection so the baseline includes them.
        _ = try stack.get(PassthroughTests.photo)
        let before = try #require(stack.herd.memoryKiB("VmRSS"))
        let response = try stack.get("/system/media_attachments/files/000/000/002/original/big.mp4?bytes=\(size)",
                                     timeout: 120, discardBody: true)
        let peak = try #require(stack.herd.memoryKiB("VmHWM"))
        #expect(response.status == 200)
        #expect(response.body.count == size)
        #expect(response.header("Content-Length") == String(size))
        let growthMiB = Double(peak - before) / 1024
        #expect(growthMiB < 20, "herd's peak RSS grew by \(growthMiB) MiB while streaming \(size / 1_000_000) MB")
        print("streaming 200 MB: herd RSS before \(before / 1024) MiB, peak \(peak / 1024) MiB, growth \(String(format: "%.1f", growthMiB)) MiB")
    }

    @Test("SIGTERM during an in-flight request: the request completes and herd exits 0")
    func gracefulShutdown() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let path = PassthroughTests.photo
        let expected = try stack.originFile(path)
        let result = ResultBox()
        let thread = Thread {
            result.set(Result { try stack.get(path + "?delay=2") })
        }
        thread.start()
        // Let the request reach the origin, then ask herd to stop.
        #expect(Wait.until(timeout: 5) { (try? stack.originHits()[path + "?delay=2"]) == 1 })
        stack.herd.signal(SIGTERM)
        let status = stack.herd.waitForExit(timeout: 10)
        #expect(status == 0, "herd exit status \(String(describing: status))")
        #expect(Wait.until(timeout: 5) { result.value != nil })
        let response = try #require(try result.value?.get())
        #expect(response.status == 200)
        #expect(response.body == expected)
        #expect(stack.herd.log.contains("stopped cleanly"))
    }

    @Test("SIGTERM with idle kept-alive nginx connections exits at once")
    func idleShutdownIsPrompt() throws {
        let stack = try Stack()
        defer { stack.stop() }
        for _ in 0..<5 { _ = try stack.get(PassthroughTests.photo) }
        let started = Date()
        stack.herd.signal(SIGTERM)
        #expect(stack.herd.waitForExit(timeout: 5) == 0)
        #expect(Date().timeIntervalSince(started) < 1.0)
    }

    @Test("a request longer than server.shutdown_timeout does not hold the exit")
    func shutdownTimeoutBounds() throws {
        let stack = try Stack(.init(herdArguments: ["--set", "server.shutdown_timeout=1"]))
        defer { stack.stop() }
        let thread = Thread { _ = try? stack.get(PassthroughTests.photo + "?delay=8") }
        thread.start()
        #expect(Wait.until(timeout: 5) { (try? stack.originTotal().requests) == 1 })
        let started = Date()
        stack.herd.signal(SIGTERM)
        #expect(stack.herd.waitForExit(timeout: 5) == 0)
        let elapsed = Date().timeIntervalSince(started)
        #expect(elapsed < 2.5, "exit took \(elapsed) s")
        #expect(stack.herd.log.contains("abandoning"))
    }

    @Test("after a restart the worker serves again on the same socket")
    func restart() throws {
        let stack = try Stack()
        defer { stack.stop() }
        #expect(try stack.get(PassthroughTests.photo).status == 200)
        try stack.restartHerd()
        #expect(try stack.get(PassthroughTests.photo).status == 200)
    }

    @Test("the unix socket is created with server.socket_mode")
    func socketMode() throws {
        let stack = try Stack(.init(herdArguments: ["--set", "server.socket_mode=0600"]))
        defer { stack.stop() }
        let attributes = try FileManager.default.attributesOfItem(atPath: stack.herdSocket)
        #expect((attributes[.posixPermissions] as? Int) == 0o600)
    }

    @Test("/health and /metrics through nginx's loopback-only locations")
    func healthAndMetrics() throws {
        let stack = try Stack()
        defer { stack.stop() }
        _ = try stack.get(PassthroughTests.photo)
        _ = try stack.get("/nope")
        let health = try stack.get("/_herd/health")
        #expect(health.status == 200)
        #expect(health.text == "OK\n")
        let metrics = try stack.get("/_herd/metrics")
        #expect(metrics.status == 200)
        let text = metrics.text
        #expect(text.contains(#"herd_requests_total{route="mastodon-media",status="200"} 1"#))
        #expect(text.contains(#"herd_requests_total{route="not_found",status="404"} 1"#))
        #expect(text.contains("herd_upstream_request_duration_seconds_bucket"))
        #expect(text.contains("herd_upstream_received_bytes_total"))
        #expect(text.contains("herd_response_bytes_total"))
        #expect(text.contains("herd_requests_in_flight"))
        #expect(text.contains(#"herd_upstream_errors_total{kind="timeout"} 0"#))
    }
}

final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: Result<HTTPResponse, Error>?
    func set(_ value: Result<HTTPResponse, Error>) { lock.lock(); stored = value; lock.unlock() }
    var value: Result<HTTPResponse, Error>? { lock.lock(); defer { lock.unlock() }; return stored }
}
