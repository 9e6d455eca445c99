/// Percent-encoding, once for every use: names nginx must read as written
/// (every byte but RFC 3986's unreserved ones), a redirect's `Location`
/// (bytes outside ASCII, as browsers do), and a URI passed to libcurl
/// (bytes outside printable ASCII and the few characters its parser
/// refuses). Two uppercase hex digits per byte.
public enum PercentEncoding {
    /// Every `%XX` decoded; nil for a bad escape or bytes that are not UTF-8.
    public static func decode(_ text: String) -> String? {
        var bytes: [UInt8] = []
        var iterator = Array(text.utf8)[...]
        while let byte = iterator.popFirst() {
            if byte == UInt8(ascii: "%") {
                guard iterator.count >= 2, let value = UInt8(String(decoding: iterator.prefix(2), as: UTF8.self), radix: 16) else { return nil }
                bytes.append(value)
                iterator = iterator.dropFirst(2)
            } else {
                bytes.append(byte)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    /// Every byte but `A-Z a-z 0-9 - _ . ~` encoded.
    public static func encode(_ text: String) -> String {
        encode(text) { byte in
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"),
                 UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "_"), UInt8(ascii: "."), UInt8(ascii: "~"):
                false
            default:
                true
            }
        }
    }

    /// Bytes outside ASCII encoded (a `Location` in raw UTF-8); the rest as it is.
    public static func encodingNonASCII(_ text: String) -> String {
        guard text.utf8.contains(where: { $0 >= 0x80 }) else { return text }
        return encode(text) { $0 >= 0x80 }
    }

    /// Bytes outside printable ASCII and `" < > { } | ^` ` encoded, which
    /// libcurl's URL parser refuses; everything else as the client sent it.
    public static func encodingUnsafeInURL(_ text: String) -> String {
        encode(text) { byte in
            switch byte {
            case 0x80...0xff, UInt8(ascii: "\""), UInt8(ascii: "<"), UInt8(ascii: ">"), UInt8(ascii: "{"),
                 UInt8(ascii: "}"), UInt8(ascii: "|"), UInt8(ascii: "^"), UInt8(ascii: "`"):
                true
            default:
                false
            }
        }
    }

    private static func encode(_ text: String, where needsEncoding: (UInt8) -> Bool) -> String {
        let digits = Array("0123456789ABCDEF".utf8)
        var output = [UInt8]()
        output.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            if needsEncoding(byte) {
                output += [UInt8(ascii: "%"), digits[Int(byte >> 4)], digits[Int(byte & 0x0f)]]
            } else {
                output.append(byte)
            }
        }
        return String(decoding: output, as: UTF8.self)
    }
}
