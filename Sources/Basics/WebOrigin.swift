/// A web origin as browsers serialize it in `Origin` and `Referer`:
/// `scheme://host[:port]`, scheme http or https, host in ASCII (an
/// international name as its `xn--` form, an IPv6 address in brackets), the
/// default port left out. Parsed strictly so that what an admin configures
/// (`misskey.allowed_origins`) and what a request carries compare as values:
/// `HTTPS://Misskey.Example:443` and `https://misskey.example` are one
/// origin, and text with spaces, control bytes or a path is none.
public struct WebOrigin: Hashable, Sendable, CustomStringConvertible {
    /// Lowercase, without the default port: `https://misskey.example:8443`.
    public let serialized: String

    public var description: String { serialized }

    /// An origin on its own (configuration): nothing may follow the port,
    /// except one "/" that people paste with it.
    public init?(_ text: some StringProtocol) {
        var text = Substring(text)
        if text.hasSuffix("/") { text = text.dropLast() }
        self.init(authorityOf: text, requireWhole: true)
    }

    /// The origin of a URL (`Referer`, `Origin`): what precedes its path,
    /// query or fragment.
    public init?(ofURL text: some StringProtocol) {
        self.init(authorityOf: Substring(text), requireWhole: false)
    }

    private init?(authorityOf text: Substring, requireWhole: Bool) {
        guard let colon = text.firstIndex(of: ":"), text[colon...].hasPrefix("://") else { return nil }
        let scheme = text[..<colon].lowercased()
        let defaultPort: Int
        switch scheme {
        case "https": defaultPort = 443
        case "http": defaultPort = 80
        default: return nil
        }
        let rest = text[text.index(colon, offsetBy: 3)...]
        let authority = rest.prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if requireWhole, authority.count != rest.count { return nil }

        // host, then an optional :port
        var host: Substring
        var portText: Substring?
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            host = authority[...close]
            let inside = authority[authority.index(after: authority.startIndex)..<close]
            guard !inside.isEmpty, inside.unicodeScalars.allSatisfy({ $0.isASCIIHexDigit || $0 == ":" || $0 == "." }) else {
                return nil
            }
            let after = authority[authority.index(after: close)...]
            if !after.isEmpty {
                guard after.hasPrefix(":") else { return nil }
                portText = after.dropFirst()
            }
        } else {
            if let colon = authority.firstIndex(of: ":") {
                host = authority[..<colon]
                portText = authority[authority.index(after: colon)...]
            } else {
                host = authority
            }
            // Letters, digits, '-', '_' and '.' (no userinfo, no spaces, no
            // bytes a header could not carry), at least one letter or digit.
            // No empty label (a trailing dot is a name of its own, as
            // browsers keep it).
            guard host.unicodeScalars.allSatisfy({ $0.isASCIIAlphanumeric || $0 == "-" || $0 == "_" || $0 == "." }),
                  host.unicodeScalars.contains(where: \.isASCIIAlphanumeric), !host.hasPrefix("."), !host.contains("..") else { return nil }
        }
        var serialized = scheme + "://" + host.lowercased()
        if let portText {
            guard (1...5).contains(portText.count), portText.unicodeScalars.allSatisfy({ ("0"..."9").contains($0) }),
                  let port = Int(portText), (1...65_535).contains(port) else { return nil }
            if port != defaultPort { serialized += ":" + String(port) }
        }
        self.serialized = serialized
    }
}

extension Unicode.Scalar {
    fileprivate var isASCIIAlphanumeric: Bool {
        ("a"..."z").contains(self) || ("A"..."Z").contains(self) || ("0"..."9").contains(self)
    }

    fileprivate var isASCIIHexDigit: Bool {
        ("a"..."f").contains(self) || ("A"..."F").contains(self) || ("0"..."9").contains(self)
    }
}
