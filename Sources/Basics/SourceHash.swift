/// A fast non-cryptographic hash (FNV-1a 64): ETags of sources, names of
/// temporary files, request ids.
public enum SourceHash {
    public static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        bytes.withUnsafeBufferPointer { buffer in
            for byte in buffer {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
        }
        return hash
    }

    public static func fnv1a(_ text: String) -> UInt64 { fnv1a(Array(text.utf8)) }

    /// Sixteen lowercase hex digits.
    public static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
