import Basics

/// What herd asks an origin for: a GET for media (a client's HEAD is
/// answered with GET's headers, and the transfer stops after them); the
/// purge service's relays to other nodes send PURGE, without a body.
public struct UpstreamRequest: Sendable {
    public var url: String
    /// Request headers to send (already filtered by the caller).
    public var headers: [(name: String, value: String)]
    /// A method without a request body: GET, or PURGE for a relayed purge.
    public var method: String

    public init(url: String, headers: [(name: String, value: String)] = [], method: String = "GET") {
        self.url = url
        self.headers = headers
        self.method = method
    }
}

/// The origin's status line and headers, as received.
public struct UpstreamResponseHead: Sendable {
    public var status: Int
    public var headers: [(name: String, value: String)]
    /// An HTTP/1 body with neither Content-Length nor chunked framing: it
    /// ends when the connection closes, so a cut cannot be told from the end.
    public var closeDelimited: Bool

    public init(status: Int, headers: [(name: String, value: String)], closeDelimited: Bool = false) {
        self.status = status
        self.headers = headers
        self.closeDelimited = closeDelimited
    }

    /// The first value of a header, matched case-insensitively.
    public func value(of name: String) -> String? {
        headers.first { $0.name.caseInsensitiveEquals(name) }?.value
    }

    /// Content-Length, when present and valid.
    public var contentLength: Int? {
        guard let text = value(of: "Content-Length"), let length = Int(text), length >= 0 else { return nil }
        return length
    }
}

/// Receives a response as it streams in. Both calls happen on the fetching
/// thread, inside `UpstreamClient.fetch`.
public protocol UpstreamResponseSink: AnyObject {
    /// The head arrived (final, not 1xx). Return false to stop the transfer.
    func receiveHead(_ head: UpstreamResponseHead) -> Bool
    /// A piece of the body. Return false to stop the transfer.
    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool
}

/// Fetches one request into a sink, blocking the calling thread:
/// `UpstreamClient` over HTTP; a scripted origin in the unit tests.
public protocol Fetching: AnyObject {
    func fetch(_ request: UpstreamRequest, into sink: UpstreamResponseSink) -> UpstreamOutcome
}

/// How a fetch went, for logs and metrics.
public struct UpstreamOutcome: Sendable {
    /// The origin's status, once a head arrived.
    public var status: Int?
    /// Set when the transfer failed, before or after the head.
    public var error: UpstreamError?
    public var bodyBytes: Int
    public var seconds: Double
    /// Whether libcurl reused a kept-alive connection.
    public var reusedConnection: Bool
    /// The address the guard refused, when it refused one.
    public var refusedAddress: ConnectAddress?

    public init(status: Int?, error: UpstreamError?, bodyBytes: Int, seconds: Double, reusedConnection: Bool,
                refusedAddress: ConnectAddress? = nil) {
        self.refusedAddress = refusedAddress
        self.status = status
        self.error = error
        self.bodyBytes = bodyBytes
        self.seconds = seconds
        self.reusedConnection = reusedConnection
    }
}
