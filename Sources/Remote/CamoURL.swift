import Crypto

/// go-camo's signed URLs, for any other app that already makes them:
/// `/camo/<digest>/<encoded-url>`, where the digest is HMAC-SHA1 keyed with
/// the shared key over the raw URL, and digest and URL are both lowercase
/// hex or both base64url without padding (go-camo's two encodings). Checked
/// before any network activity; the MAC in constant time.
public enum CamoURL {
    /// The remote URL a path names, or why it names none (same statuses as
    /// Akkoma's URLs: 400 malformed, 403 bad signature).
    public static func verify(path: Substring, key: [UInt8]) throws(SignedProxyURL.Problem) -> String {
        guard path.hasPrefix("/camo/") else { throw .malformed("not under /camo/") }
        let segments = path.dropFirst("/camo/".count).split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count == 2, !segments[0].isEmpty, !segments[1].isEmpty else {
            throw .malformed("expected /camo/DIGEST/URL")
        }
        let digest: [UInt8]
        let url: [UInt8]
        if segments[0].utf8.count == 2 * Insecure.SHA1.byteCount {
            guard let mac = Hex.decode(segments[0]), let decoded = Hex.decode(segments[1]) else {
                throw .malformed("the digest or the URL is not hex")
            }
            (digest, url) = (mac, decoded)
        } else {
            guard let mac = Base64URL.decode(segments[0]), mac.count == Insecure.SHA1.byteCount,
                  let decoded = Base64URL.decode(segments[1]) else {
                throw .malformed("the digest or the URL is neither hex nor base64url")
            }
            (digest, url) = (mac, decoded)
        }
        guard HMAC<Insecure.SHA1>.isValidAuthenticationCode(digest, authenticating: url, using: SymmetricKey(data: key)) else {
            throw .badSignature
        }
        guard let text = String(validating: url, as: UTF8.self) else { throw .malformed("the URL is not UTF-8") }
        return try RemoteURL.checked(text).absolute
    }

    /// The path go-camo would make for `url` (tests and tools).
    public static func sign(_ url: String, key: [UInt8], hex: Bool) -> String {
        let mac = Array(HMAC<Insecure.SHA1>.authenticationCode(for: Array(url.utf8), using: SymmetricKey(data: key)))
        return hex ? "/camo/" + Hex.encode(mac) + "/" + Hex.encode(Array(url.utf8))
                   : "/camo/" + Base64URL.encode(mac) + "/" + Base64URL.encode(Array(url.utf8))
    }
}

/// Lowercase hex, as go-camo writes it (uppercase is read too).
enum Hex {
    static func decode(_ text: some StringProtocol) -> [UInt8]? {
        let digits = Array(text.utf8)
        guard digits.count % 2 == 0 else { return nil }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(digits.count / 2)
        func value(_ digit: UInt8) -> UInt8? {
            switch digit {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit - 48
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit - 87
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit - 55
            default: nil
            }
        }
        var index = 0
        while index < digits.count {
            guard let high = value(digits[index]), let low = value(digits[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }

    static func encode(_ bytes: [UInt8]) -> String {
        let alphabet = Array("0123456789abcdef".utf8)
        var output: [UInt8] = []
        output.reserveCapacity(bytes.count * 2)
        for byte in bytes {
            output.append(alphabet[Int(byte >> 4)])
            output.append(alphabet[Int(byte & 15)])
        }
        return String(decoding: output, as: UTF8.self)
    }
}
