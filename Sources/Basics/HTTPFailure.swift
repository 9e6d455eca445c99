/// Header lines in order, as they go on the wire (names may repeat).
public typealias HTTPHeaders = [(name: String, value: String)]

/// The one shape every failure in herd takes: a rejected URI, a refused
/// method, an origin that failed, an image that cannot be served, a full
/// queue. The status is chosen by the failure itself, here, and the error
/// answer is made from it in one place (`ReplyWriter`), so no caller picks
/// a status of its own.
public protocol HTTPFailure: Error, Sendable {
    /// The status the client sees.
    var status: Int { get }
    /// Short and stable: the `X-Herd-Error` header and the log's `error` field prefix.
    var reason: String { get }
    /// What happened, for the log line.
    var detail: String { get }
    /// Set when a retry soon may succeed (a full queue, a busy origin): the
    /// answer is then never stored (`no-store`) and says `Retry-After`.
    var retryAfter: Int? { get }
    /// Headers the answer must carry (`Allow` on a 405).
    var headers: HTTPHeaders { get }
}

extension HTTPFailure {
    public var detail: String { reason }
    public var retryAfter: Int? { nil }
    public var headers: HTTPHeaders { [] }
}

/// A failure herd decides on its own, without a library or the origin
/// behind it.
public struct Refusal: HTTPFailure, Equatable {
    public let status: Int
    public let reason: String
    public let detail: String
    public let retryAfter: Int?
    public let headers: HTTPHeaders

    public init(status: Int, reason: String, detail: String? = nil, retryAfter: Int? = nil, headers: HTTPHeaders = []) {
        self.status = status
        self.reason = reason
        self.detail = detail ?? reason
        self.retryAfter = retryAfter
        self.headers = headers
    }

    public static func == (left: Refusal, right: Refusal) -> Bool {
        left.status == right.status && left.reason == right.reason && left.detail == right.detail
            && left.retryAfter == right.retryAfter
            && left.headers.map { "\($0.name): \($0.value)" } == right.headers.map { "\($0.name): \($0.value)" }
    }
}
