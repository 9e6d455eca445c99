import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A listening TCP socket on a loopback address and a port the kernel
/// chose, for the tests' own servers (a hostile origin, a counting
/// listener); one copy for every test target.
public enum LoopbackListener {
    /// The listening descriptor (close-on-exec; non-blocking if asked) and its port.
    public static func open(address: String = "127.0.0.1", backlog: Int32 = 256, nonBlocking: Bool = false) throws -> (descriptor: Int32, port: UInt16) {
        let flags = Int32(SOCK_CLOEXEC.rawValue) | (nonBlocking ? Int32(SOCK_NONBLOCK.rawValue) : 0)
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | flags, 0)
        guard fd >= 0 else { throw HTTPClientError(description: "socket failed: \(String(cString: strerror(errno)))") }
        var one: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
        var socketAddress = sockaddr_in()
        socketAddress.sin_family = sa_family_t(AF_INET)
        socketAddress.sin_addr.s_addr = inet_addr(address)
        socketAddress.sin_port = 0
        let bound = withUnsafePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, backlog) == 0 else {
            let reason = String(cString: strerror(errno))
            close(fd)
            throw HTTPClientError(description: "bind/listen on \(address) failed: \(reason)")
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &socketAddress) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        return (fd, UInt16(bigEndian: socketAddress.sin_port))
    }
}
