import Testing
@testable import Herd
@testable import Media
import Settings

/// Configuration quirks found by the fuzz targets (Fuzz/FuzzConfigValue, Fuzz/FuzzConfigLoader).
@Suite("Configuration values found by fuzzing")
struct ConfigurationFuzzFindingsTests {
    @Test("non-finite milliseconds are not a duration", arguments: ["infms", "nanms", "-infms"])
    func nonFiniteMilliseconds(text: String) {
        #expect(ValueParser.seconds(.text(text)) == nil)
    }

    @Test("printed strings escape every control character, so check-config's output loads back")
    func controlCharacters() {
        #expect(tomlString("a\u{1}b\u{7f}c\nd") == "\"a\\u0001b\\u007Fc\\nd\"")
    }

    /// fuzz-config-value: a socket path with a NUL did not survive TOML.
    @Test("paths with control characters are refused (upstream.root, purge.*, media_proxy.ffmpeg)")
    func pathControlCharacters() throws {
        for key in ["upstream.root", "purge.cache_dir", "purge.sockets", "media_proxy.ffmpeg"] {
            var configuration = HerdConfiguration()
            let entry = try #require(ConfigurationKey.named(key))
            #expect(entry.apply(&configuration, .text("/ru\n\u{0}x")) != nil, "\(key)")
            #expect(entry.apply(&configuration, .text("/run/herd/herd-0.sock")) == nil, "\(key)")
        }
    }

    /// fuzz-config-value: an origin with a NUL and control bytes was taken,
    /// printed, and loaded back cut at the NUL.
    @Test("list items and origins with control characters are refused")
    func listControlCharacters() throws {
        for (key, good) in [("misskey.allowed_origins", "https://misskey.example"), ("server.allowed_clients", "10.0.0.0/8"),
                            ("purge.nodes", "http://10.0.0.2:8080")] {
            var configuration = HerdConfiguration()
            let entry = try #require(ConfigurationKey.named(key))
            #expect(entry.apply(&configuration, .text("https://mastoon.\u{18}exam\u{0}\u{19}ae")) != nil, "\(key)")
            #expect(entry.apply(&configuration, .text(good)) == nil, "\(key)")
        }
    }

    /// fuzz-config-loader: check-config printed [purge] twice (its keys were
    /// not together in the key table), which TOML refuses.
    @Test("check-config's output of the defaults loads back: every section once")
    func sectionsOnce() throws {
        let rendered = ConfigurationLoader.render(HerdConfiguration())
        let headers = rendered.split(separator: "\n").filter { $0.hasPrefix("[") }
        #expect(headers.count == Set(headers).count, "\(headers)")
    }
}
