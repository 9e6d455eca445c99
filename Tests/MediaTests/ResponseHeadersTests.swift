import Testing
import Herd
@testable import Media
import Settings
import FastCGI
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

    @Test("passed through: a redirect without a lifetime gets cache.redirect_ttl or the location's, never cache.ttl; 0 means never kept; a 404 the location's",
          arguments: [
            // (status, the origin's Cache-Control, the location's lifetimes, expected)
            (302, nil, MediaRequest.Lifetimes(), "public, max-age=60"),
            (301, nil, MediaRequest.Lifetimes(redirect: 600), "public, max-age=600"),
            (302, "max-age=30", MediaRequest.Lifetimes(), "max-age=30"),
            (302, "public, max-age=86400", MediaRequest.Lifetimes(redirect: 0), "no-store"),
            (307, nil, MediaRequest.Lifetimes(redirect: 0), "no-store"),
            (200, nil, MediaRequest.Lifetimes(), "public, max-age=86400"),
            (200, nil, MediaRequest.Lifetimes(success: 21600), "public, max-age=21600"),
            (404, "public, max-age=86400", MediaRequest.Lifetimes(), "public, max-age=5"),
            (404, nil, MediaRequest.Lifetimes(notFound: 60), "public, max-age=60"),
            (410, nil, MediaRequest.Lifetimes(notFound: 300), "public, max-age=300"),
            (500, nil, MediaRequest.Lifetimes(notFound: 300), "public, max-age=5"),
            (304, nil, MediaRequest.Lifetimes(success: 60), nil),
            (200, "public, max-age=315576000, immutable", MediaRequest.Lifetimes(success: 172800), "public, max-age=172800, immutable"),
            (200, "max-age=60", MediaRequest.Lifetimes(success: 600), "public, max-age=60"),
            (200, "private, max-age=60", MediaRequest.Lifetimes(success: 600), "private, max-age=60"),
            (200, "public, max-age=315576000", MediaRequest.Lifetimes(), "public, max-age=315576000"),
          ] as [(Int, String?, MediaRequest.Lifetimes, String?)])
    func passthroughLifetimes(status: Int, origin: String?, lifetimes: MediaRequest.Lifetimes, expected: String?) {
        var headers: [(name: String, value: String)] = origin.map { [("Cache-Control", $0)] } ?? []
        ResponseHeaders.applyPassthroughCaching(status: status, headers: &headers, configuration: configuration, lifetimes: lifetimes)
        #expect(headers.filter { $0.name == "Cache-Control" }.map(\.value) == (expected.map { [$0] } ?? []))
    }

    @Test("the location's lifetimes, from nginx's params: numbers from 0 to a year, anything else ignored")
    func lifetimesFromParams() {
        final class Params: RequestParams {
            let values: [String: String]
            init(values: [String: String]) { self.values = values }
            func param(_ name: String) -> String? { values[name] }
        }
        let read = MediaRequest.Lifetimes(params: Params(values: ["HERD_TTL": "21600", "HERD_REDIRECT_TTL": "0",
                                                                  "HERD_NOT_FOUND_TTL": "-1"]))
        #expect(read == MediaRequest.Lifetimes(success: 21600, redirect: 0, notFound: nil))
        #expect(MediaRequest.Lifetimes(params: Params(values: ["HERD_TTL": "99999999999", "HERD_REDIRECT_TTL": "6o"]))
                == MediaRequest.Lifetimes())
    }

    @Test("a body herd replaces loses what described the origin's: encoding, digest, name, location, age; keeps Last-Modified")
    func representation() {
        let origin = head([("Content-Type", "image/jpeg"), ("Content-Encoding", "gzip"), ("Content-MD5", "x"),
                           ("Digest", "sha-256=x"), ("Content-Disposition", "attachment; filename=evil.html"),
                           ("Content-Location", "/x"), ("Content-Language", "en"), ("Age", "9999"),
                           ("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT"), ("X-Other", "kept")])
        let names = Set(ResponseHeaders.fromOrigin(origin, from: .origin, configuration: configuration, replacingRepresentation: true)
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
        let out = ResponseHeaders.fromOrigin(head(headers), from: .origin, configuration: configuration)
        let bytes = out.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        #expect(bytes <= ResponseHeaders.headerBudget)
        let names = Set(out.map { $0.name.lowercased() })
        #expect(names.isSuperset(of: ["content-type", "etag", "vary", "x-herd-source", "content-security-policy"]))
    }
}
