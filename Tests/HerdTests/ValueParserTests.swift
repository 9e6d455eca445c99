import Testing
@testable import Herd
@testable import Media
import Settings

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
