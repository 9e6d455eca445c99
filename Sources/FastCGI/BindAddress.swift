/// Where a worker listens: a unix socket path or a TCP `host:port`.
///
/// Accepted spellings: `/run/herd/0.sock`, `unix:/run/herd/0.sock`,
/// `127.0.0.1:9000`, `[::1]:9000`, `localhost:9000`.
public enum BindAddress: Equatable, Sendable, CustomStringConvertible {
    case unix(path: String)
    case tcp(host: String, port: UInt16)

    /// The longest path a `sockaddr_un` holds (108 bytes with the NUL on Linux).
    public static let maximumUnixPathLength = 107

    public struct ParseError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public init(parsing text: String) throws(ParseError) {
        if text.isEmpty { throw ParseError(description: "is empty") }
        var path: Substring? = nil
        if text.hasPrefix("unix:") {
            path = text.dropFirst("unix:".count)
        } else if text.hasPrefix("/") || text.hasPrefix("./") {
            path = Substring(text)
        }
        if let path {
            guard path.hasPrefix("/") || path.hasPrefix("./") else {
                throw ParseError(description: "unix socket path '\(path)' must be absolute")
            }
            guard path.utf8.count <= Self.maximumUnixPathLength else {
                throw ParseError(description: "unix socket path is \(path.utf8.count) bytes; the limit is \(Self.maximumUnixPathLength)")
            }
            guard !path.hasSuffix("/"), !path.utf8.contains(0) else {
                throw ParseError(description: "'\(path)' is not a socket file path")
            }
            self = .unix(path: String(path))
            return
        }
        // host:port, with IPv6 hosts in brackets.
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"),
                  text[text.index(after: close)...].hasPrefix(":") else {
                throw ParseError(description: "'\(text)' is not [ipv6]:port")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw ParseError(description: "'\(text)' is neither a socket path (/…) nor host:port")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !host.unicodeScalars.contains(where: { $0 == " " || $0 == "/" || $0.value < 0x20 || $0.value == 0x7f }) else {
            throw ParseError(description: "'\(text)' has no usable host")
        }
        guard let port = UInt16(portText), port > 0 else {
            throw ParseError(description: "'\(portText)' is not a port between 1 and 65535")
        }
        self = .tcp(host: String(host), port: port)
    }

    public var description: String {
        switch self {
        case .unix(let path): return "unix:\(path)"
        case .tcp(let host, let port): return host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
        }
    }
}
