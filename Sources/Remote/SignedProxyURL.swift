import Crypto

/// Akkoma's and Pleroma's media proxy URLs (`lib/pleroma/web/media_proxy.ex`):
/// `/proxy/<sig64>/<url64>[/<filename>]`, previews under `/proxy/preview/`.
/// `url64` is the remote URL in base64url without padding; `sig64` is
/// base64url without padding of HMAC-SHA1, keyed with the Phoenix endpoint's
/// `secret_key_base`, over the `url64` text as it stands in the path.
///
/// Everything here happens before any network activity: a URL that fails a
/// check is never fetched.
public struct SignedProxyURL: Equatable, Sendable {
    public enum Kind: Equatable, Sendable { case original, preview }

    public let kind: Kind
    /// The remote URL, as signed (`//host/…` made https).
    public let remoteURL: String
    /// The filename segment, when the path had one.
    public let filename: String?

    public init(kind: Kind, remoteURL: String, filename: String?) {
        self.kind = kind
        self.remoteURL = remoteURL
        self.filename = filename
    }

    /// Why a path is not a usable signed URL, with the status to answer.
    public enum Problem: Error, Equatable, Sendable {
        /// Not the shape of a proxy URL, bad base64, not an http(s) URL: 400.
        case malformed(String)
        /// The signature does not match: 403.
        case badSignature
        /// The filename is not the URL's: 302 to the same URL with the right one.
        case wrongFilename(redirectPath: String)
        /// An http(s) URL herd will not fetch (credentials, localhost): 403.
        case refusedURL(String)

        public var status: Int {
            switch self {
            case .malformed: 400
            case .refusedURL: 403
            case .badSignature: 403
            case .wrongFilename: 302
            }
        }
    }

    /// Checks a request path (without its query) against `secret`.
    public static func verify(path: Substring, secret: [UInt8]) throws(Problem) -> SignedProxyURL {
        guard path.hasPrefix("/proxy/") else { throw .malformed("not under /proxy/") }
        var rest = path.dropFirst("/proxy/".count)
        var kind = Kind.original
        if rest.hasPrefix("preview/") {
            kind = .preview
            rest = rest.dropFirst("preview/".count)
        }
        let segments = rest.split(separator: "/", omittingEmptySubsequences: false)
        guard segments.count == 2 || segments.count == 3, !segments[0].isEmpty, !segments[1].isEmpty else {
            throw .malformed("expected /proxy/SIGNATURE/URL[/FILENAME]")
        }
        let signature64 = segments[0]
        let url64 = segments[1]
        guard let signature = Base64URL.decode(signature64), signature.count == Insecure.SHA1.byteCount else {
            throw .malformed("the signature is not base64url")
        }
        // The MAC is checked before the URL is even decoded, in constant time.
        let key = SymmetricKey(data: secret)
        guard HMAC<Insecure.SHA1>.isValidAuthenticationCode(signature, authenticating: Array(url64.utf8), using: key) else {
            throw .badSignature
        }
        guard let decoded = Base64URL.decode(url64), let text = String(validating: decoded, as: UTF8.self) else {
            throw .malformed("the URL is not base64url UTF-8")
        }
        let url = text.hasPrefix("//") ? "https:" + text : text
        let parsed = try RemoteURL.checked(url)

        let filename = segments.count == 3 ? String(segments[2]) : nil
        if let filename, !parsed.hasBasename(filename) {
            let prefix = kind == .preview ? "/proxy/preview/" : "/proxy/"
            throw .wrongFilename(redirectPath: prefix + signature64 + "/" + url64 + "/" + parsed.basename)
        }
        return SignedProxyURL(kind: kind, remoteURL: url, filename: filename)
    }

    /// The path Akkoma would make for `url` (for tests and tools).
    public static func sign(_ url: String, secret: [UInt8], kind: Kind = .original, filename: String? = nil) -> String {
        let url64 = Base64URL.encode(Array(url.utf8))
        let mac = HMAC<Insecure.SHA1>.authenticationCode(for: Array(url64.utf8), using: SymmetricKey(data: secret))
        let prefix = kind == .preview ? "/proxy/preview/" : "/proxy/"
        return prefix + Base64URL.encode(Array(mac)) + "/" + url64 + (filename.map { "/" + $0 } ?? "")
    }
}

/// base64url without padding (RFC 4648 §5), as Elixir's
/// `Base.url_encode64(padding: false)`; decoding refuses padding, other
/// alphabets and non-zero trailing bits.
public enum Base64URL {
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)

    public static func encode(_ bytes: [UInt8]) -> String {
        var output: [UInt8] = []
        output.reserveCapacity((bytes.count * 4 + 2) / 3)
        var index = 0
        while index < bytes.count {
            let chunk = bytes[index..<min(index + 3, bytes.count)]
            var value = 0
            for (offset, byte) in chunk.enumerated() { value |= Int(byte) << (16 - 8 * offset) }
            for position in 0...chunk.count { output.append(alphabet[(value >> (18 - 6 * position)) & 63]) }
            index += 3
        }
        return String(decoding: output, as: UTF8.self)
    }

    public static func decode(_ text: some StringProtocol) -> [UInt8]? {
        var values: [Int] = []
        values.reserveCapacity(text.utf8.count)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"): values.append(Int(byte) - 65)
            case UInt8(ascii: "a")...UInt8(ascii: "z"): values.append(Int(byte) - 97 + 26)
            case UInt8(ascii: "0")...UInt8(ascii: "9"): values.append(Int(byte) - 48 + 52)
            case UInt8(ascii: "-"): values.append(62)
            case UInt8(ascii: "_"): values.append(63)
            default: return nil
            }
        }
        guard values.count % 4 != 1 else { return nil }
        var output: [UInt8] = []
        output.reserveCapacity(values.count * 3 / 4)
        var index = 0
        while index < values.count {
            let chunk = values[index..<min(index + 4, values.count)]
            var value = 0
            for (offset, sextet) in chunk.enumerated() { value |= sextet << (18 - 6 * offset) }
            let bytes = chunk.count - 1
            for position in 0..<bytes { output.append(UInt8((value >> (16 - 8 * position)) & 0xff)) }
            // Bits past the last whole byte must be zero (one spelling per byte string).
            let usedBits = 8 * bytes
            if value & ((1 << (24 - usedBits)) - 1) != 0 { return nil }
            index += 4
        }
        return output
    }
}
