import Testing
@testable import Imaging

@Suite("ICC profiles: sRGB's is dropped, any other carried")
struct ICCProfileTests {
    /// A minimal profile: the header (colour space at 16), one `desc` tag.
    static func profile(space: String = "RGB ", description: String, v4: Bool = false) -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: 128)
        bytes.replaceSubrange(16..<20, with: Array(space.utf8))
        func u32(_ value: Int) -> [UInt8] { [UInt8(value >> 24 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
        let tag: [UInt8]
        if v4 {
            let utf16 = description.utf16.flatMap { [UInt8($0 >> 8), UInt8($0 & 0xff)] }
            tag = Array("mluc".utf8) + u32(0) + u32(1) + u32(12) + Array("enUS".utf8) + u32(utf16.count) + u32(28) + utf16
        } else {
            let ascii = Array(description.utf8) + [0]
            tag = Array("desc".utf8) + u32(0) + u32(ascii.count) + ascii
        }
        bytes += u32(1) + Array("desc".utf8) + u32(144) + u32(tag.count)
        return bytes + tag
    }

    @Test("sRGB's profiles (v2 desc, v4 mluc) are recognised; Display P3, Adobe RGB, CMYK and garbage are not")
    func recognises() {
        #expect(ICCProfile.isSRGB(Self.profile(description: "sRGB IEC61966-2.1")))
        #expect(ICCProfile.isSRGB(Self.profile(description: "GIMP built-in sRGB", v4: true)))
        #expect(!ICCProfile.isSRGB(Self.profile(description: "Display P3")))
        #expect(!ICCProfile.isSRGB(Self.profile(description: "Adobe RGB (1998)", v4: true)))
        #expect(!ICCProfile.isSRGB(Self.profile(space: "CMYK", description: "sRGB-ish CMYK")))
        #expect(!ICCProfile.isSRGB(TestImagesICC.fake))
        #expect(!ICCProfile.isSRGB([]))
        var cut = Self.profile(description: "sRGB IEC61966-2.1")
        cut.removeLast(10)
        #expect(!ICCProfile.isSRGB(cut))
    }
}

enum TestImagesICC {
    static let fake: [UInt8] = Array("herd-test-icc-profile:".utf8) + (0..<300).map { UInt8($0 % 251) }
}
