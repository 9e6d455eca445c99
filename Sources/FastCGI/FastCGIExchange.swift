import CFastCGI
import System
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
    ///
    /// libfcgi frames its output in 8 KiB records, one write(2) each; a
    /// 60 KB image took eight. Larger pieces skip its buffer: what it holds
    /// (the head) is flushed, then the bytes go out in records of up to
    /// 64 KiB, header and content in one writev(2) each (measured with
    /// bench-passthrough: fewer system calls per response).
    public func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        precondition(headSent, "body before head")
        guard !peerGone else { return false }
        guard let base = bytes.baseAddress, bytes.count > 0 else { return true }
        let ok: Bool
        if bytes.count >= Self.directWriteThreshold {
            ok = FCGX_FFlush(request.pointee.out) >= 0 && writeRecords(bytes)
        } else {
            ok = FCGX_PutStr(base.assumingMemoryBound(to: CChar.self), Int32(bytes.count), request.pointee.out) >= 0
        }
        guard ok else {
            peerGone = true
            return false
        }
        bodyBytesWritten += bytes.count
        return true
    }

    /// Pieces at least this large are written as records of their own.
    static let directWriteThreshold = 16 << 10
    /// FastCGI's largest record content (a 16-bit length), kept a multiple of 8.
    static let maximumRecordContent = 65_528

    /// FCGI_STDOUT records straight to the connection.
    private func writeRecords(_ bytes: UnsafeRawBufferPointer) -> Bool {
        let descriptor = request.pointee.ipcFd
        let requestID = request.pointee.requestId
        var offset = 0
        var header = [UInt8](repeating: 0, count: 8)
        while offset < bytes.count {
            let length = min(Self.maximumRecordContent, bytes.count - offset)
            // version 1, type 6 (FCGI_STDOUT), request id, content length, no padding.
            header[0] = 1
            header[1] = 6
            header[2] = UInt8(truncatingIfNeeded: requestID >> 8)
            header[3] = UInt8(truncatingIfNeeded: requestID)
            header[4] = UInt8(truncatingIfNeeded: length >> 8)
            header[5] = UInt8(truncatingIfNeeded: length)
            let sent = header.withUnsafeMutableBytes { head in
                Self.writeFully(descriptor, head.baseAddress!, 8, bytes.baseAddress! + offset, length)
            }
            guard sent else { return false }
            offset += length
        }
        return true
    }

    /// writev(2) of two pieces until both are out (a blocking socket may
    /// still take part of them, and a signal may interrupt).
    private static func writeFully(_ descriptor: Int32, _ first: UnsafeMutableRawPointer, _ firstCount: Int,
                                   _ second: UnsafeRawPointer, _ secondCount: Int) -> Bool {
        var pieces = [iovec(iov_base: first, iov_len: firstCount),
                      iovec(iov_base: UnsafeMutableRawPointer(mutating: second), iov_len: secondCount)]
        var index = 0
        while index < pieces.count {
            guard let written = try? retryingOnInterrupt("writev", {
                pieces.withUnsafeMutableBufferPointer { buffer in
                    writev(descriptor, buffer.baseAddress! + index, Int32(buffer.count - index))
                }
            }) else { return false }
            var remaining = written
            while index < pieces.count, remaining >= pieces[index].iov_len {
                remaining -= pieces[index].iov_len
                index += 1
            }
            if index < pieces.count, remaining > 0 {
                pieces[index].iov_base += remaining
                pieces[index].iov_len -= remaining
            }
        }
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
