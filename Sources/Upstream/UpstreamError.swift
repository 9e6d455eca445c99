import Basics

/// Why a fetch from the origin failed. `kind` is short and stable: it is a
/// metric label (`herd_upstream_errors_total{kind=…}`) and a log field.
public struct UpstreamError: HTTPFailure, CustomStringConvertible, Equatable {
    /// A kind of failure: a short, stable label (a metric label and a log
    /// field) and the status a client sees. The transport's kinds are here;
    /// the remote fetcher adds its own (Remote: refused_url, …) as statics
    /// of its own, so this module knows nothing of remote policy.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        public let rawValue: String
        public let status: Int

        public init(_ label: String, status: Int) {
            self.rawValue = label
            self.status = status
        }

        public var description: String { rawValue }

        /// No answer (or no progress) within `upstream.timeout`, or over the
        /// transfer limit.
        public static let timeout = Kind("timeout", status: 504)
        /// The name did not resolve.
        public static let dns = Kind("dns", status: 502)
        /// The connection was refused or could not be made.
        public static let connect = Kind("connect", status: 502)
        /// TLS handshake or certificate verification failed.
        public static let tls = Kind("tls", status: 502)
        /// The body is larger than `upstream.max_body_size`.
        public static let bodyTooLarge = Kind("body_too_large", status: 502)
        /// The response head is larger than we accept.
        public static let headersTooLarge = Kind("headers_too_large", status: 502)
        /// The origin broke HTTP: no reply, reset, truncated body.
        public static let protocolError = Kind("protocol", status: 502)
        /// nginx (or its client) went away while we were streaming: 499
        /// (nginx's "client closed the request"), for the log only.
        public static let clientGone = Kind("client_gone", status: 499)
        /// The client's admission hook refused the address it was about to
        /// connect to (the remote fetcher's address guard).
        public static let refusedAddress = Kind("refused_address", status: 403)
        /// Anything else libcurl reports.
        public static let other = Kind("other", status: 502)

        /// The transport's kinds.
        public static let transport: [Kind] = [.timeout, .dns, .connect, .tls, .bodyTooLarge, .headersTooLarge,
                                              .protocolError, .clientGone, .refusedAddress, .other]
    }

    public let kind: Kind
    /// libcurl's own message, for the log line.
    public let message: String

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    /// The status a client sees, by kind.
    public var status: Int { kind.status }

    public var reason: String { kind.rawValue }
    public var detail: String { message }

    public var description: String { "\(kind.rawValue): \(message)" }
}
