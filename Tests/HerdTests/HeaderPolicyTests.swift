import Testing
@testable import Herd

@Suite("Header policy")
struct HeaderPolicyTests {
    let origin: [(name: String, value: String)] = [
        ("Content-Type", "image/jpeg"),
        ("Content-Length", "123"),
        ("ETag", "\"abc\""),
        ("Connection", "keep-alive, X-Private"),
        ("X-Private", "secret"),
        ("Keep-Alive", "timeout=5"),
        ("Transfer-Encoding", "chunked"),
        ("Set-Cookie", "a=b"),
        ("set-cookie", "c=d"),
        ("X-Accel-Redirect", "/internal"),
        ("x-accel-buffering", "no"),
        ("Status", "200"),
        ("Server", "nginx"),
        ("X-Amz-Request-Id", "42"),
        ("Cache-Control", "public, max-age=60"),
    ]

    @Test("preserving keeps the origin's own headers but never the dangerous ones")
    func preserving() {
        let names = HeaderPolicy.responseHeaders(from: origin, preserveAll: true).map(\.name)
        #expect(names == ["Content-Type", "ETag", "X-Amz-Request-Id", "Cache-Control"])
    }

    @Test("not preserving keeps only what caching and ranges need")
    func essentialOnly() {
        let names = HeaderPolicy.responseHeaders(from: origin, preserveAll: false).map(\.name)
        #expect(names == ["Content-Type", "ETag", "Cache-Control"])
    }
}

@Suite("Configuration values")
struct ValueParserTests {
    @Test("sizes with binary units", arguments: [
        ("1024", 1024), ("16MB", 16 << 20), ("16MiB", 16 << 20), ("512kb", 512 << 10), ("1G", 1 << 30), ("1.5K", 1536),
    ])
    func sizes(text: String, bytes: Int) {
        #expect(ValueParser.size(.text(text)) == bytes)
    }

    @Test("nonsense sizes are refused", arguments: ["", "MB", "12XB", "lots", "-"])
    func badSizes(text: String) {
        #expect(ValueParser.size(.text(text)) == nil)
    }

    @Test("seconds", arguments: [("30", 30.0), ("2.5", 2.5), ("500ms", 0.5), ("3s", 3.0)])
    func seconds(text: String, value: Double) {
        #expect(ValueParser.seconds(.text(text)) == value)
    }

    @Test("booleans from the environment", arguments: [("true", true), ("1", true), ("YES", true), ("off", false), ("0", false)])
    func bools(text: String, value: Bool) {
        #expect(ValueParser.bool(.text(text)) == value)
    }
}
