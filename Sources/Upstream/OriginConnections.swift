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

    /// Installs the open/close callbacks on `handle` (after every
    /// `curl_easy_reset`). `self` must outlive the handle.
    func install(on handle: UnsafeMutableRawPointer) {
        let context = Unmanaged.passUnretained(self).toOpaque()
        _ = herd_curl_setopt_opensocket_function(handle) { context, _, address in
            Unmanaged<OriginConnections>.fromOpaque(context!).takeUnretainedValue().open(address.pointee)
        }
        _ = herd_curl_setopt_pointer(handle, CURLOPT_OPENSOCKETDATA, context)
        _ = herd_curl_setopt_closesocket_function(handle) { context, socket in
            Unmanaged<OriginConnections>.fromOpaque(context!).takeUnretainedValue().close(socket)
        }
        _ = herd_curl_setopt_pointer(handle, CURLOPT_CLOSESOCKETDATA, context)
    }

    private func open(_ address: curl_sockaddr) -> curl_socket_t {
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
