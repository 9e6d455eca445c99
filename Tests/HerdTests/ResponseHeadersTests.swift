import Testing
@testable import Herd
import Upstream

/// What herd tells nginx and clients about a body it answers with.
@Suite("Response headers")
struct ResponseHeadersTests {
    let configuration = HerdConfiguration()

    func head(_ headers: [(String, String)]) -> UpstreamResponseHead {
        UpstreamResponseHead(status: 200, headers: headers.map { (name: $0.0, value: $0.1) })
    }

    @Test("the origin's lifetime: s-maxage over max-age, no-cache is 0, none is nil",
          arguments: [
            ("public, max-age=60", 60), ("max-age=60, s-maxage=10", 10), ("no-cache", 0), ("max-age=\"30\"", 30),
            ("max-age=-5", 0), ("max-age=abc", 0), ("public", nil), ("", nil),
          ] as [(String, Int?)])
    func maxAge(cacheControl: String, expected: Int?) {
        #expect(ResponseHeaders.originMaxAge(head([("Cache-Control", cacheControl)])) == expected)
    }

    @Test("a conversion never outlives its source: the shorter of cache.ttl and the origin's lifetime")
    func conversionLifetime() {
        #expect(ResponseHeaders.mediaCacheControl(origin: head([("Cache-Control", "max-age=2")]), configuration: configuration)
                == "public, max-age=2")
        #expect(ResponseHeaders.mediaCacheControl(origin: head([("Cache-Control", "public, max-age=31536000, immutable")]),
                                                  configuration: configuration) == "public, max-age=86400, immutable")
        #expect(ResponseHeaders.mediaCacheControl(origin: head([]), configuration: configuration) == "public, max-age=86400")
        #expect(ResponseHeaders.mediaCacheControl(origin: head([("Cache-Control", "private, max-age=60")]), configuration: configuration)
                == "private, max-age=60")
    }

    @Test("nginx is told the lifetime where it may ignore Cache-Control: 0 for private and no-store, the error TTL for short-lived")
    func nginxLifetime() {
        func expires(_ cacheControl: String) -> String? {
            var headers: [(name: String, value: String)] = [("Cache-Control", cacheControl)]
            ResponseHeaders.addNginxLifetime(&headers, configuration: configuration)
            return headers.first { $0.name == "X-Accel-Expires" }?.value
        }
        #expect(expires("private") == "0")
        #expect(expires("no-store") == "0")
        #expect(expires("public, max-age=5") == "5")
        #expect(expires("public, max-age=86400") == nil)
    }

    @Test("a body herd replaces loses what described the origin's: encoding, digest, name, location, age; keeps Last-Modified")
    func representation() {
        let origin = head([("Content-Type", "image/jpeg"), ("Content-Encoding", "gzip"), ("Content-MD5", "x"),
                           ("Digest", "sha-256=x"), ("Content-Disposition", "attachment; filename=evil.html"),
                           ("Content-Location", "/x"), ("Content-Language", "en"), ("Age", "9999"),
                           ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"), ("X-Other", "kept")])
        let names = Set(ResponseHeaders.fromOrigin(origin, configuration: configuration, replacingRepresentation: true)
            .map { $0.name.lowercased() })
        for dropped in ["content-type", "content-encoding", "content-md5", "digest", "content-disposition",
                        "content-location", "content-language", "age"] {
            #expect(!names.contains(dropped), "\(dropped)")
        }
        #expect(names.contains("last-modified") && names.contains("x-other"))
    }

    @Test("past the header budget, the origin's inessential headers go and the essential ones stay")
    func budget() {
        var headers: [(String, String)] = [("Content-Type", "image/jpeg"), ("ETag", "\"a\"")]
        for index in 0..<3000 { headers.append(("X-Flood-\(index)", "value")) }
        headers.append(("X-Huge", String(repeating: "a", count: 60_000)))
        let out = ResponseHeaders.fromOrigin(head(headers), configuration: configuration)
        let bytes = out.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        #expect(bytes <= ResponseHeaders.headerBudget)
        let names = Set(out.map { $0.name.lowercased() })
        #expect(names.isSuperset(of: ["content-type", "etag", "vary", "x-herd-source", "content-security-policy"]))
    }
}
