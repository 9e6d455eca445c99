import Basics

/// Why a fetch from the origin failed. `kind` is short and stable: it is a
/// metric label (`herd_upstream_errors_total{kind=…}`) and a log field.
public struct UpstreamError: HTTPFailure, CustomStringConvertible, Equatable {
    public enum Kind: String, Sendable, CaseIterable {
        /// No answer (or no progress) within `upstream.timeout`, or over the
        /// transfer limit.
        case timeout
        /// The name did not resolve.
        case dns
        /// The connection was refused or could not be made.
        case connect
        /// TLS handshake or certificate verification failed.
        case tls
        /// The body is larger than `upstream.max_body_size`.
        case bodyTooLarge = "body_too_large"
        /// The response head is larger than we accept.
        case headersTooLarge = "headers_too_large"
        /// The origin broke HTTP: no reply, reset, truncated body.
        case protocolError = "protocol"
        /// nginx (or its client) went away while we were streaming.
        case clientGone = "client_gone"
        /// The host resolved to an address the guard refuses (remote URLs).
        case refusedAddress = "refused_address"
        /// A remote URL herd will not fetch: a redirect to another scheme,
        /// credentials, localhost, a blocked domain (remote URLs).
        case refusedURL = "refused_url"
        /// More redirects than `remote.max_redirects`.
        case tooManyRedirects = "too_many_redirects"
        /// The remote answered 404 or 410 (remote URLs; its page is not passed on).
        case remoteNotFound = "remote_not_found"
        /// The remote answered another error, or a 3xx without a Location.
        case remoteError = "remote_error"
        /// Anything else libcurl reports.
        case other
    }

    public let kind: Kind
    /// libcurl's own message, for the log line.
    public let message: String

    public init(kind: Kind, message: String) {
        self.kind = kind
        self.message = message
    }

    /// The status a client sees: 504 for timeouts, 502 for the rest of the
    /// origin's failures; 499 (nginx's "client closed the request") when
    /// nobody is listening any more, for the log only.
    public var status: Int {
        switch kind {
        case .timeout: 504
        case .clientGone: 499
        case .refusedAddress, .refusedURL: 403
        case .remoteNotFound: 404
        default: 502
        }
    }

    public var reason: String { kind.rawValue }
    public var detail: String { message }

    public var description: String { "\(kind.rawValue): \(message)" }
}
