import Testing
@testable import Herd
@testable import Media
import Settings

/// nginx's cache file names and the keys herd purge computes.
@Suite("Cache purge keys")
struct CachePurgeTests {
    @Test("the file name is the key's MD5 in nginx's levels layout (nginx: levels=1:2 gives …/c/29/…029c)")
    func paths() {
        // md5("abc") = 900150983cd24fb0d6963f7d28e17f72
        #expect(CachePurge(directory: "/c", levels: [1, 2]).path(for: "abc") == "/c/2/f7/900150983cd24fb0d6963f7d28e17f72")
        #expect(CachePurge(directory: "/c", levels: [2]).path(for: "abc") == "/c/72/900150983cd24fb0d6963f7d28e17f72")
        #expect(CachePurge(directory: "/c", levels: [1, 1, 2]).path(for: "abc") == "/c/2/7/7f/900150983cd24fb0d6963f7d28e17f72")
        #expect(CachePurge.parseLevels("1:2") == [1, 2])
        #expect(CachePurge.parseLevels("3") == nil)
        #expect(CachePurge.parseLevels("1:2:2:1") == nil)
        #expect(CachePurge.parseLevels("") == nil)
    }

    @Test("keys: scheme, lowercased host without port, the raw request URI, each variant")
    func keys() throws {
        let keys = try #require(CachePurge.keys(for: "https://Social.Example:8443/system/a%20b.jpg?v=1"))
        #expect(keys.count == 6)
        #expect(keys.contains("httpssocial.example/system/a%20b.jpg?v=1|avif"))
        #expect(keys.contains("httpssocial.example/system/a%20b.jpg?v=1|jxl-webp"))
        #expect(keys.contains("httpssocial.example/system/a%20b.jpg?v=1|orig"))
        #expect(CachePurge.keys(for: "ftp://x/y") == nil)
        #expect(CachePurge.keys(for: "/relative") == nil)
    }

    @Test("a /proxy/ URL: its preview too, and the `static` forms nginx keys them on")
    func proxyKeys() throws {
        let keys = try #require(CachePurge.keys(for: "https://media.example/proxy/SIG/URL64/cat.png"))
        #expect(keys.contains("httpsmedia.example/proxy/SIG/URL64/cat.png?static=|webp"))
        #expect(keys.contains("httpsmedia.example/proxy/preview/SIG/URL64/cat.png?static=true|avif"))
        #expect(CachePurge.target("https://media.example/proxy/preview/SIG/URL64/cat.png")?.requestURIs
                == ["/proxy/preview/SIG/URL64/cat.png", "/proxy/SIG/URL64/cat.png"])
    }
}
