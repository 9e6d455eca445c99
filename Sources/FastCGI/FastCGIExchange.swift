import CFastCGI
#if canImport(Glibc)
import Glibc
#endif

/// One FastCGI request and its response, valid for the duration of
/// `FastCGIResponder.respond(to:)` on the thread that accepted it.
///
/// Owns nothing: the `FCGX_Request` belongs to the accept loop, which finishes
/// it (or drops the connection after `abort()`) once the responder returns.
public final class FastCGIExchange: RequestParams, ResponseWriter {
    private let request: UnsafeMutablePointer<FCGX_Request>

    /// Whether the status line and headers have been written.
    public private(set) var headSent = false
    /// Body bytes written so far.
    public private(set) var bodyBytesWritten = 0
    /// True once a write failed: nginx (or its client) went away.
    public private(set) var peerGone = false
    /// True once `abort()` was called.
    public private(set) var aborted = false

    init(request: UnsafeMutablePointer<FCGX_Request>) {
        self.request = request
    }

    // MARK: - Request

    /// A FastCGI parameter as nginx sent it (`REQUEST_URI`, `HTTP_ACCEPT`, …).
    public func param(_ name: String) -> String? {
        guard let value = FCGX_GetParam(name, request.pointee.envp) else { return nil }
        return String(cString: value)
    }

    // MARK: - Response

    /// Writes the status and headers. Header names and values containing CR or
    /// LF are dropped: they would let a value inject headers of its own.
    public func writeHead(status: Int, headers: [(name: String, value: String)]) {
        precondition(!headSent, "head written twice")
        headSent = true
        var head = "Status: \(status) \(HTTPStatus.reasonPhrase(status))\r\n"
        for (name, value) in headers where Self.isSafeHeader(name: name, value: value) {
            head += name
            head += ": "
            head += value
            head += "\r\n"
        }
        head += "\r\n"
        var bytes = Array(head.utf8)
        let written = bytes.withUnsafeMutableBufferPointer { buffer in
            buffer.withMemoryRebound(to: CChar.self) { FCGX_PutStr($0.baseAddress, Int32($0.count), request.pointee.out) }
        }
        if written < 0 { peerGone = true }
    }

    /// Writes body bytes; returns false once the peer is gone.
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        precondition(headSent, "body before head")
        guard !peerGone else { return false }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        let written = FCGX_PutStr(base.assumingMemoryBound(to: CChar.self), Int32(bytes.count), request.pointee.out)
        if written < 0 {
            peerGone = true
            return false
        }
        bodyBytesWritten += bytes.count
        return true
    }

    /// Ends the exchange without FastCGI's END_REQUEST record, so nginx sees a
    /// truncated response ("upstream prematurely closed") and neither passes
    /// it on as complete nor caches it. For failures after the head was sent.
    public func abort() {
        aborted = true
    }

    static func isSafeHeader(name: String, value: String) -> Bool {
        guard !name.isEmpty else { return false }
        for byte in name.utf8 where byte <= 0x20 || byte >= 0x7f || byte == UInt8(ascii: ":") { return false }
        for byte in value.utf8 where byte == 0x0d || byte == 0x0a || byte == 0 { return false }
        return true
    }
}

public enum HTTPStatus {
    public static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 200: "OK"
        case 204: "No Content"
        case 206: "Partial Content"
        case 301: "Moved Permanently"
        case 302: "Found"
        case 303: "See Other"
        case 304: "Not Modified"
        case 307: "Temporary Redirect"
        case 308: "Permanent Redirect"
        case 400: "Bad Request"
        case 403: "Forbidden"
        case 404: "Not Found"
        case 405: "Method Not Allowed"
        case 410: "Gone"
        case 412: "Precondition Failed"
        case 413: "Content Too Large"
        case 414: "URI Too Long"
        case 415: "Unsupported Media Type"
        case 416: "Range Not Satisfiable"
        case 429: "Too Many Requests"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        case 504: "Gateway Timeout"
        default: "Status \(status)"
        }
    }
}
