/// What herd needs to know about an ICC profile: whether it is sRGB's.
///
/// An image tagged with an sRGB profile looks the same untagged (every
/// browser assumes sRGB for untagged images), and the common sRGB profiles
/// are 3–7 KB: on a 205×128 emoji, more than the pixels. herd drops them
/// and carries every other profile (Display P3, Adobe RGB…) as it came.
public enum ICCProfile {
    /// True when the profile's description names sRGB ("sRGB IEC61966-2.1",
    /// "sRGB built-in", "GIMP built-in sRGB", "sRGB2014"…), read from its
    /// `desc` tag (ICC v2 `desc` or v4 `mluc` type) and its colour space
    /// is RGB. False for anything unreadable.
    public static func isSRGB(_ profile: [UInt8]) -> Bool {
        guard profile.count >= 132, text(profile, at: 16, count: 4) == "RGB " else { return false }
        guard let description = description(profile) else { return false }
        // "Linear sRGB" has sRGB's primaries but not its curve: kept.
        return description.contains("sRGB") && !description.lowercased().contains("linear")
    }

    static func description(_ profile: [UInt8]) -> String? {
        let tagCount = Int(u32(profile, 128) ?? 0)
        guard tagCount > 0, tagCount < 1000, 132 + tagCount * 12 <= profile.count else { return nil }
        for index in 0..<tagCount {
            let entry = 132 + index * 12
            guard text(profile, at: entry, count: 4) == "desc", let offset = u32(profile, entry + 4).map(Int.init),
                  let size = u32(profile, entry + 8).map(Int.init), offset >= 0, size >= 12, offset + size <= profile.count else { continue }
            switch text(profile, at: offset, count: 4) {
            case "desc":
                // v2: 'desc', reserved, ASCII count, ASCII.
                guard let count = u32(profile, offset + 8).map(Int.init), count <= size - 12 else { return nil }
                return text(profile, at: offset + 12, count: count)
            case "mluc":
                // v4: records of (language, country, length, offset) → UTF-16BE.
                guard let records = u32(profile, offset + 8).map(Int.init), records > 0,
                      let length = u32(profile, offset + 16 + 4).map(Int.init),
                      let start = u32(profile, offset + 16 + 8).map(Int.init),
                      start + length <= size, length % 2 == 0 else { return nil }
                var units: [UInt16] = []
                for at in stride(from: offset + start, to: offset + start + length, by: 2) {
                    units.append(UInt16(profile[at]) << 8 | UInt16(profile[at + 1]))
                }
                return String(decoding: units, as: UTF16.self)
            default:
                return nil
            }
        }
        return nil
    }

    private static func u32(_ bytes: [UInt8], _ at: Int) -> UInt32? {
        guard at >= 0, at + 4 <= bytes.count else { return nil }
        return UInt32(bytes[at]) << 24 | UInt32(bytes[at + 1]) << 16 | UInt32(bytes[at + 2]) << 8 | UInt32(bytes[at + 3])
    }

    private static func text(_ bytes: [UInt8], at: Int, count: Int) -> String? {
        guard at >= 0, count >= 0, at + count <= bytes.count else { return nil }
        return String(decoding: bytes[at..<(at + count)].prefix { $0 != 0 }, as: UTF8.self)
    }
}
