import System
#if canImport(Glibc)
import Glibc
#endif

/// The smallest FastCGI client: one request on a unix socket (or a TCP
/// worker), its stdout back. `herd purge` talks to each worker's socket directly with it, with
/// a param nginx never sends, so only a local process allowed on the
/// socket can ask a worker to forget a source.
public enum FastCGIClient {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Sends a RESPONDER request with `params` and no body; returns the
    /// response's stdout (CGI headers and body) once the worker ends it.
    public static func request(socketPath: String, params: [(String, String)], timeout: Double = 5) throws(Failure) -> [UInt8] {
        let endpoint: BindAddress
        do {
            endpoint = try BindAddress(parsing: socketPath)
        } catch {
            throw Failure(description: "\(socketPath): \(error)")
        }
        return try request(endpoint, params: params, timeout: timeout)
    }

    /// The same on a worker's endpoint: a unix socket, or `host:port` for a
    /// worker on TCP (another node's; it answers only `server.allowed_clients`).
    /// `from` binds the local address first (a test speaking from 127.0.0.2).
    public static func request(_ endpoint: BindAddress, from local: String? = nil, params: [(String, String)],
                               timeout: Double = 5) throws(Failure) -> [UInt8] {
        let descriptor = try connect(endpoint, from: local, timeout: timeout)
        defer { close(descriptor) }
        var out: [UInt8] = []
        out += record(type: 1, content: [0, 1, 0, 0, 0, 0, 0, 0])  // BEGIN_REQUEST: responder, close after
        var pairs: [UInt8] = []
        for (name, value) in params { pairs += length(name.utf8.count) + length(value.utf8.count) + Array(name.utf8) + Array(value.utf8) }
        var offset = 0
        while offset < pairs.count {
            let end = min(offset + 65_535, pairs.count)
            out += record(type: 4, content: Array(pairs[offset..<end]))
            offset = end
        }
        out += record(type: 4, content: [])  // end of params
        out += record(type: 5, content: [])  // empty stdin
        try send(descriptor, out)

        var stdout: [UInt8] = []
        var buffer: [UInt8] = []
        while true {
            var chunk = [UInt8](repeating: 0, count: 16 << 10)
            let count = (try? retryingOnInterrupt("recv") { chunk.withUnsafeMutableBytes { recv(descriptor, $0.baseAddress, $0.count, 0) } }) ?? -1
            guard count > 0 else { throw Failure(description: count == 0 ? "the worker closed before ending the request" : "recv: errno \(errno)") }
            buffer += chunk[0..<count]
            while buffer.count >= 8 {
                let contentLength = Int(buffer[4]) << 8 | Int(buffer[5])
                let total = 8 + contentLength + Int(buffer[6])
                guard buffer.count >= total else { break }
                let type = buffer[1]
                if type == 6 { stdout += buffer[8..<(8 + contentLength)] }
                if type == 3 { return stdout }  // END_REQUEST
                buffer.removeFirst(total)
                if stdout.count > 1 << 20 { throw Failure(description: "an answer over 1 MB") }
            }
        }
    }

    private static func connect(_ endpoint: BindAddress, from local: String?, timeout: Double) throws(Failure) -> Int32 {
        var time = timeval(tv_sec: Int(timeout), tv_usec: Int((timeout - timeout.rounded(.down)) * 1_000_000))
        switch endpoint {
        case .unix(let path):
            let descriptor = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { throw Failure(description: "socket: errno \(errno)") }
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
            var address = sockaddr_un()
            address.sun_family = sa_family_t(AF_UNIX)
            let bytes = Array(path.utf8)
            guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
                close(descriptor)
                throw Failure(description: "socket path too long")
            }
            withUnsafeMutableBytes(of: &address.sun_path) { raw in
                for (index, byte) in bytes.enumerated() { raw[index] = byte }
            }
            let connected = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { Glibc.connect(descriptor, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            guard connected == 0 else {
                let code = errno
                close(descriptor)
                throw Failure(description: "connect \(path): errno \(code)")
            }
            return descriptor
        case .tcp(let host, let port):
            var hints = addrinfo()
            hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
            var found: UnsafeMutablePointer<addrinfo>?
            guard getaddrinfo(host, String(port), &hints, &found) == 0, let first = found else {
                throw Failure(description: "cannot resolve \(host)")
            }
            defer { freeaddrinfo(found) }
            let descriptor = socket(first.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            guard descriptor >= 0 else { throw Failure(description: "socket: errno \(errno)") }
            setsockopt(descriptor, SOL_SOCKET, SO_RCVTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
            setsockopt(descriptor, SOL_SOCKET, SO_SNDTIMEO, &time, socklen_t(MemoryLayout<timeval>.size))
            if let local {
                var source = sockaddr_in()
                source.sin_family = sa_family_t(AF_INET)
                source.sin_addr.s_addr = inet_addr(local)
                _ = withUnsafePointer(to: &source) {
                    $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(descriptor, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            guard Glibc.connect(descriptor, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
                let code = errno
                close(descriptor)
                throw Failure(description: "connect \(host):\(port): errno \(code)")
            }
            return descriptor
        }
    }

    private static func record(type: UInt8, content: [UInt8]) -> [UInt8] {
        [1, type, 0, 1, UInt8(content.count >> 8), UInt8(content.count & 0xFF), 0, 0] + content
    }

    private static func length(_ count: Int) -> [UInt8] {
        count < 128 ? [UInt8(count)] : [UInt8((count >> 24) & 0x7F) | 0x80, UInt8((count >> 16) & 0xFF), UInt8((count >> 8) & 0xFF), UInt8(count & 0xFF)]
    }

    private static func send(_ descriptor: Int32, _ bytes: [UInt8]) throws(Failure) {
        var offset = 0
        while offset < bytes.count {
            let sent = (try? retryingOnInterrupt("send") {
                bytes.withUnsafeBytes { Glibc.send(descriptor, $0.baseAddress! + offset, $0.count - offset, Int32(MSG_NOSIGNAL)) }
            }) ?? -1
            guard sent > 0 else { throw Failure(description: "send: errno \(errno)") }
            offset += sent
        }
    }
}
