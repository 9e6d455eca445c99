import Testing
import Herd
@testable import Media
import Settings

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
        ("X-Origin-Note", "kept"),
        ("Cache-Control", "public, max-age=60"),
    ]

    @Test("preserving keeps the origin's own headers but never the dangerous ones")
    func preserving() {
        let names = HeaderPolicy.responseHeaders(from: origin, preserveAll: true).map(\.name)
        #expect(names == ["Content-Type", "ETag", "X-Origin-Note", "Cache-Control"])
    }

    @Test("object storage's own headers never pass, whatever the setting", arguments: [
        "x-amz-id-2", "X-Amz-Server-Side-Encryption", "x-amz-meta-uploader", "x-amzn-RequestId", "x-goog-generation",
        "X-GUploader-UploadID", "x-rgw-object-type", "x-ms-request-id", "x-oss-request-id", "Server",
    ])
    func storageHeaders(name: String) {
        for preserve in [true, false] {
            #expect(HeaderPolicy.responseHeaders(from: [(name, "v")], preserveAll: preserve).isEmpty, "\(name)")
        }
    }

    @Test("not preserving keeps only what caching and ranges need")
    func essentialOnly() {
        let names = HeaderPolicy.responseHeaders(from: origin, preserveAll: false).map(\.name)
        #expect(names == ["Content-Type", "ETag", "Cache-Control"])
    }
}

extension HeaderPolicy {
    /// The origin's response headers as they pass the policy (what
    /// `ResponseHeaders.fromOrigin` applies header by header).
    static func responseHeaders(from origin: [(name: String, value: String)], preserveAll: Bool) -> [(name: String, value: String)] {
        let dropped = namedInConnection(origin)
        return origin.filter { passes(lowercasedName: $0.name.lowercased(), preserveAll: preserveAll, dropped: dropped) }
    }
}
