import Basics

/// A remote URL herd may fetch: `http` or `https`, a host, no credentials,
/// not `localhost`. Parsed strictly, without Foundation, before any network
/// activity; the address the host resolves to is judged later, at connect
/// time, by `AddressGuard`.
public struct RemoteURL: Equatable, Sendable {
    public let scheme: String
    public let host: String
    public let port: Int?
    /// The path and query, as written (at least "/").
    public let pathAndQuery: String

    public init?(_ text: String) {
        guard !text.utf8.contains(where: { $0 <= 0x20 || $0 >= 0x7f || $0 == UInt8(ascii: "\\") }) else { return nil }
        let lower = text.lowercased()
        let rest: Substring
        if lower.hasPrefix("https://") {
            scheme = "https"
            rest = text.dropFirst(8)
        } else if lower.hasPrefix("http://") {
            scheme = "http"
            rest = text.dropFirst(7)
        } else {
            return nil
        }
        let authorityEnd = rest.firstIndex { $0 == "/" || $0 == "?" || $0 == "#" } ?? rest.endIndex
        let authority = rest[..<authorityEnd]
        guard !authority.contains("@") else { return nil }  // credentials: never sent anywhere
        var hostPart = authority
        var port: Int? = nil
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[...close]
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":"), let number = Int(after.dropFirst()), (1...65_535).contains(number) else { return nil }
                port = number
            }
        } else if let colon = authority.lastIndex(of: ":") {
            hostPart = authority[..<colon]
            guard let number = Int(authority[authority.index(after: colon)...]), (1...65_535).contains(number) else { return nil }
            port = number
        }
        let host = hostPart.lowercased()
        // A name in letters, digits, dots and hyphens, or an IPv6 literal:
        // libcurl would percent-decode `bad%2eexample` into a name the
        // blocklist and the localhost check never saw.
        let isName = host.utf8.allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "z")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                || $0 == UInt8(ascii: ".") || $0 == UInt8(ascii: "-")
        }
        let isIPv6Literal = host.hasPrefix("[") && host.hasSuffix("]") && host.utf8.dropFirst().dropLast().allSatisfy {
            ($0 >= UInt8(ascii: "a") && $0 <= UInt8(ascii: "f")) || ($0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9"))
                || $0 == UInt8(ascii: ":") || $0 == UInt8(ascii: ".")
        }
        guard isName || isIPv6Literal, !host.contains(".."), !host.hasPrefix("."), !host.hasPrefix("-") else { return nil }
        guard !host.isEmpty, host != "localhost", !host.hasSuffix(".localhost"), host != "localhost.",
              !host.hasSuffix(".localhost.") else { return nil }
        self.host = host
        self.port = port
        var path = String(rest[authorityEnd...])
        if let hash = path.firstIndex(of: "#") { path = String(path[..<hash]) }
        pathAndQuery = path.isEmpty || path.hasPrefix("?") ? "/" + path : path
    }

    /// `text` as a URL herd may fetch, or why not: 400 when it is not an
    /// http(s) URL at all, 403 when it is one herd refuses (credentials,
    /// localhost, a bad port or character).
    public static func checked(_ text: String) throws(SignedProxyURL.Problem) -> RemoteURL {
        if let url = RemoteURL(text) { return url }
        let lower = text.prefix(8).lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { throw .malformed("not an http or https URL") }
        throw .refusedURL("an http(s) URL herd does not fetch: credentials, localhost, or a bad port or character")
    }

    /// The last segment of the path, as written (percent-encoded).
    public var basename: String {
        let path = pathAndQuery.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        return String(path.split(separator: "/", omittingEmptySubsequences: false).last ?? "")
    }

    /// Akkoma's rule: the filename matches the basename as is, percent-decoded,
    /// or percent-encoded.
    public func hasBasename(_ filename: String) -> Bool {
        let name = basename
        return filename == name || PercentEncoding.decode(filename) == PercentEncoding.decode(name)
            || filename == PercentEncoding.encode(PercentEncoding.decode(name) ?? name)
    }

    public var absolute: String {
        origin + pathAndQuery
    }

    /// `scheme://host[:port]`.
    public var origin: String {
        scheme + "://" + host + (port.map { ":\($0)" } ?? "")
    }

    /// A redirect's `Location` made absolute against the URL it came from
    /// (RFC 3986 §5.2, without dot-segment removal: the next hop is checked
    /// as a whole URL anyway). A Location with another scheme is returned as
    /// it is, for `RemoteURL.init` to refuse.
    public static func resolve(_ location: String, against base: RemoteURL) -> String {
        let trimmed = location.trimmingHTTPWhitespace()
        if let colon = trimmed.firstIndex(of: ":"),
           trimmed[..<colon].first?.isLetter == true,
           trimmed[..<colon].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+-.".contains($0)) }) {
            return trimmed
        }
        if trimmed.hasPrefix("//") { return base.scheme + ":" + trimmed }
        if trimmed.hasPrefix("/") { return base.origin + trimmed }
        let path = base.pathAndQuery.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        if trimmed.hasPrefix("?") { return base.origin + path + trimmed }
        if trimmed.isEmpty { return base.absolute }
        let directory = path[...(path.lastIndex(of: "/") ?? path.startIndex)]
        return base.origin + directory + trimmed
    }
}
