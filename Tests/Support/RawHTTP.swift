import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A response as a client saw it.
public struct HTTPResponse {
    public var status: Int
    public var headers: [(name: String, value: String)]
    public var body: [UInt8]

    public init(status: Int, headers: [(name: String, value: String)], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    public func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    public func headers(named name: String) -> [String] {
        headers.filter { $0.name.lowercased() == name.lowercased() }.map(\.value)
    }

    public var text: String { String(decoding: body, as: UTF8.self) }
}

public struct HTTPClientError: Error, CustomStringConvertible {
    public let description: String
    public init(description: String) { self.description = description }
}

/// A minimal HTTP/1.1 client over a raw socket: sends the request target
/// byte for byte (no normalization, so hostile paths arrive as written),
/// with `Connection: close`, and reads until the server closes.
public enum RawHTTP {
    public static func request(
        port: UInt16, method: String = "GET", target: String, headers: [(String, String)] = [],
        host: String = "localhost", timeout: Double = 30, discardBody: Bool = false, address: String = "127.0.0.1"
    ) throws -> HTTPResponse {
        let fd = try connectLoopback(port: port, timeout: timeout, address: address)
        defer { close(fd) }

        var request = "\(method) \(target) HTTP/1.1\r\nHost: \(host)\r\nConnection: close\r\n"
        for (name, value) in headers { request += "\(name): \(value)\r\n" }
        request += "\r\n"
        try sendAll(fd, Array(request.utf8))

        // Read the head, then the body as framed by Content-Length or chunks, or until close.
        var buffer = [UInt8]()
        var chunk = [UInt8](repeating: 0, count: 65536)
        var headEnd: Int? = nil
        var discarded = 0
        while headEnd == nil {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { throw HTTPClientError(description: "connection closed before the head (\(buffer.count) bytes)") }
            buffer += chunk[0..<n]
            headEnd = find(Array("\r\n\r\n".utf8), in: buffer)
        }
        let head = String(decoding: buffer[0..<headEnd!], as: UTF8.self)
        var lines = head.components(separatedBy: "\r\n")
        let statusLine = lines.removeFirst()
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw HTTPClientError(description: "bad status line \(statusLine)") }
        let parsedHeaders = lines.compactMap { line -> (String, String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return (String(line[..<colon]), line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        var body = Array(buffer[(headEnd! + 4)...])
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 { throw HTTPClientError(description: "receive failed: \(String(cString: strerror(errno)))") }
            if n == 0 { break }
            if discardBody { discarded += n } else { body += chunk[0..<n] }
        }
        let response = HTTPResponse(status: status, headers: parsedHeaders, body: body)
        if response.header("Transfer-Encoding")?.lowercased() == "chunked", !discardBody {
            return HTTPResponse(status: status, headers: parsedHeaders, body: try dechunk(body))
        }
        if discardBody {
            // Report the size only: a zeroed body of the received length.
            return HTTPResponse(status: status, headers: parsedHeaders, body: [UInt8](repeating: 0, count: body.count + discarded))
        }
        return response
    }

    /// A TCP connection to 127.0.0.1:`port` whose reads give up after
    /// `timeout` seconds of silence; the caller closes it.
    /// `address`: another loopback address (the remote servers on 127.0.0.2, .3).
    /// Every byte of `bytes` on `fd`, or a thrown error.
    public static func sendAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var sent = 0
        while sent < bytes.count {
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            guard n > 0 else { throw HTTPClientError(description: "send failed") }
            sent += n
        }
    }

    public static func connectLoopback(port: UInt16, timeout: Double, address loopback: String = "127.0.0.1") throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw HTTPClientError(description: "socket failed") }
        var tv = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - Double(Int(timeout))) * 1e6))
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        precondition(loopback.hasPrefix("127."), "test traffic stays on loopback")
        address.sin_addr.s_addr = inet_addr(loopback)
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HTTPClientError(description: "connect to \(port) failed: \(reason)")
        }
        return fd
    }

    public static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard haystack.count >= needle.count else { return nil }
        for i in 0...(haystack.count - needle.count) where haystack[i] == needle[0] {
            if Array(haystack[i..<(i + needle.count)]) == needle { return i }
        }
        return nil
    }

    public static func dechunk(_ data: [UInt8]) throws -> [UInt8] {
        var output = [UInt8]()
        var index = 0
        while index < data.count {
            guard let lineEnd = find([13, 10], in: Array(data[index...])) else { break }
            let sizeText = String(decoding: data[index..<(index + lineEnd)], as: UTF8.self).split(separator: ";")[0]
            guard let size = Int(sizeText, radix: 16) else { throw HTTPClientError(description: "bad chunk size") }
            index += lineEnd + 2
            if size == 0 { break }
            output += data[index..<min(data.count, index + size)]
            index += size + 2
        }
        return output
    }

    /// A free TCP port on 127.0.0.1 (bound and released; a tiny race is accepted).
    public static func freePort() -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        _ = withUnsafePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) } }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) } }
        return UInt16(bigEndian: address.sin_port)
    }

    /// True once something accepts TCP connections on the port.
    public static func isListening(port: UInt16) -> Bool {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        } == 0
    }
}
