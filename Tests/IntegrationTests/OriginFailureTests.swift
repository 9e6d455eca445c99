import Foundation
import Testing
import HerdTestSupport

/// Dead, slow and oversized origins: a clear status, a short lifetime,
/// nothing passed off as complete.
@Suite("Origin failures", .serialized)
struct OriginFailureTests {
    static let photo = PassthroughTests.photo

    @Test("origin down → 502 with a short Cache-Control")
    func originDown() throws {
        let deadPort = RawHTTP.freePort()
        let stack = try Stack(.init(upstreamURL: "http://127.0.0.1:\(deadPort)"))
        defer { stack.stop() }
        let response = try stack.get(Self.photo)
        #expect(response.status == 502)
        #expect(response.header("Cache-Control") == "public, max-age=5")
        #expect(response.header("X-Herd-Error") == "connect")
        #expect(stack.herd.log.contains("http.status=502"))
    }

    @Test("an unresolvable origin → 502")
    func originDNS() throws {
        let stack = try Stack(.init(upstreamURL: "http://herd-test-no-such-host.invalid"))
        defer { stack.stop() }
        let response = try stack.get(Self.photo)
        #expect(response.status == 502)
        #expect(response.header("X-Herd-Error") == "dns")
    }

    @Test("origin slower than upstream.timeout → 504 within timeout + 1 s")
    func originSlow() throws {
        let stack = try Stack(.init(herdArguments: ["--set", "upstream.timeout=2"]))
        defer { stack.stop() }
        let started = Date()
        let response = try stack.get(Self.photo + "?delay=6")
        let elapsed = Date().timeIntervalSince(started)
        #expect(response.status == 504)
        #expect(response.header("Cache-Control") == "public, max-age=5")
        #expect(elapsed < 3.0, "took \(elapsed) s")
        #expect(elapsed >= 1.9, "answered before the timeout: \(elapsed) s")
    }

    @Test("a body over upstream.max_body_size → 502, nothing sent as complete")
    func bodyOverCap() throws {
        let stack = try Stack(.init(herdArguments: ["--set", "upstream.max_body_size=1MB"]))
        defer { stack.stop() }
        let declared = try stack.get("/system/media_attachments/files/big.mp4?bytes=5000000")
        #expect(declared.status == 502)
        #expect(declared.header("X-Herd-Error") == "body_too_large")

        // Without Content-Length the cap trips mid-stream: the head has gone
        // out, so herd cuts the connection and the client sees a short body.
        let chunked = try? stack.get("/system/media_attachments/files/big.mp4?bytes=5000000&chunked=1")
        if let chunked {
            #expect(chunked.body.count < 5_000_000)
            #expect(chunked.body.count <= 1_100_000)
        }
        #expect(stack.herd.log.contains("body_too_large"))
    }

    @Test("an origin that stalls mid-body → the response is cut, not completed")
    func originStallsMidBody() throws {
        let stack = try Stack(.init(herdArguments: ["--set", "upstream.timeout=1"]))
        defer { stack.stop() }
        let response = try? stack.get("/system/media_attachments/files/stall.mp4?bytes=400000&stall=4")
        if let response {
            #expect(response.body.count < 400_000, "a stalled body must not look complete")
        }
        #expect(Wait.until(timeout: 5) { stack.herd.log.contains("error=timeout") })
    }
}
