import CCurl
#if canImport(Glibc)
import Glibc
#endif

/// The sockets one libcurl handle keeps open to origins, so that a kept-alive
/// connection with bytes nobody asked for is never reused.
///
/// HTTP/1.1 has no way to tell a forged second response from the answer to
/// the next request: an origin (or anything on the path) that sends bytes
/// past the end of a response, or while the connection sits idle, would
/// have them read as the next request's answer. libcurl 7.88 reuses such a
/// connection (it only closes on excess that arrives in the same read).
/// Before every transfer herd looks at each idle socket: one that is
/// readable (stray bytes, or the peer's close) is shut down, so libcurl
/// finds it dead, closes it and connects afresh.
final class OriginConnections {
    private var sockets: [Int32] = []
    /// Judges every address before a socket is opened for it (remote URLs);
    /// nil trusts every address (the configured origin).
    var admit: (@Sendable (ConnectAddress) -> Bool)?
    /// The address refused during the current transfer, if one was.
    private(set) var refused: ConnectAddress?

    /// Called before each transfer.
    func startTransfer() { refused = nil }

    /// Installs the open/close callbacks on `handle` (after every
    /// `curl_easy_reset`). `self` must outlive the handle.
    func install(on handle: UnsafeMutableRawPointer) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = herd_curl_setopt_opensocket_function(handle) { context, _, address in
            Unmanaged<OriginConnections>.fromOpaque(context!).takeUnretainedValue().open(address)
        }
        _ = herd_curl_setopt_pointer(handle, CURLOPT_OPENSOCKETDATA, context)
        _ = herd_curl_setopt_closesocket_function(handle) { context, socket in
            Unmanaged<OriginConnections>.fromOpaque(context!).takeUnretainedValue().close(socket)
        }
        _ = herd_curl_setopt_pointer(handle, CURLOPT_CLOSESOCKETDATA, context)
    }

    private func open(_ pointer: UnsafeMutablePointer<curl_sockaddr>) -> curl_socket_t {
        let address = pointer.pointee
        // The address libcurl is about to connect to, after DNS: judged here,
        // no socket exists for a refused one, so no connection is ever opened
        // to it whatever the URL said or the resolver answered.
        if let admit {
            guard let target = ConnectAddress(pointer), admit(target) else {
                refused = ConnectAddress(pointer) ?? .unknown(family: address.family)
                return CURL_SOCKET_BAD
            }
        }
        let fd = socket(address.family, address.socktype | Int32(SOCK_CLOEXEC.rawValue), address.protocol)
        if fd >= 0 { sockets.append(fd) }
        return fd >= 0 ? fd : CURL_SOCKET_BAD
    }

    private func close(_ fd: curl_socket_t) -> Int32 {
        if let index = sockets.firstIndex(of: fd) { sockets.swapAt(index, sockets.count - 1); sockets.removeLast() }
        return Glibc.close(fd)
    }

    /// Shuts down every idle connection that has something to read. Called
    /// between transfers, when all of this handle's connections are idle.
    func discardTainted() {
        guard !sockets.isEmpty else { return }
        var polls = sockets.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
        guard poll(&polls, nfds_t(polls.count), 0) > 0 else { return }
        for entry in polls where entry.revents != 0 {
            shutdown(entry.fd, Int32(SHUT_RDWR))
        }
    }
}

/// An address libcurl is about to connect to.
public enum ConnectAddress: Equatable, Sendable, CustomStringConvertible {
    /// Four bytes, network order.
    case v4([UInt8])
    /// Sixteen bytes, network order.
    case v6([UInt8])
    /// A family herd does not connect to (refused whatever the policy).
    case unknown(family: Int32)

    /// From libcurl's `struct curl_sockaddr`, which ends in a
    /// `struct sockaddr` that libcurl allocates large enough for the whole
    /// address (`addrlen` bytes): read through the pointer, never a copy.
    init?(_ pointer: UnsafePointer<curl_sockaddr>) {
        let length = Int(pointer.pointee.addrlen)
        let base = UnsafeRawPointer(pointer) + MemoryLayout<curl_sockaddr>.offset(of: \curl_sockaddr.addr)!
        switch pointer.pointee.family {
        case AF_INET:
            guard length >= MemoryLayout<sockaddr_in>.size else { return nil }
            let inet = base.loadUnaligned(as: sockaddr_in.self)
            self = .v4(withUnsafeBytes(of: inet.sin_addr) { Array($0) })
        case AF_INET6:
            guard length >= MemoryLayout<sockaddr_in6>.size else { return nil }
            let inet6 = base.loadUnaligned(as: sockaddr_in6.self)
            self = .v6(withUnsafeBytes(of: inet6.sin6_addr) { Array($0) })
        default:
            return nil
        }
    }

    public var description: String {
        switch self {
        case .v4(let bytes): return bytes.map(String.init).joined(separator: ".")
        case .v6(let bytes):
            return stride(from: 0, to: 16, by: 2).map { String(UInt16(bytes[$0]) << 8 | UInt16(bytes[$0 + 1]), radix: 16) }
                .joined(separator: ":")
        case .unknown(let family): return "family \(family)"
        }
    }
}
