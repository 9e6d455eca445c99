import Testing
@testable import Herd

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
}
