import Basics
import System
#if canImport(Glibc)
import Glibc
#endif

/// The socket a worker accepts nginx's connections on.
///
/// We create it ourselves instead of calling `FCGX_OpenSocket`, because that
/// function calls `exit(errno)` when bind fails: an admin would see a bare
/// exit code instead of "address in use". The socket is non-blocking so that
/// the workers can wait for it in epoll next to a shutdown pipe; accepted
/// connections are blocking again (Linux does not inherit O_NONBLOCK).
public final class ListeningSocket: Sendable {
    public let descriptor: Int32
    public let address: BindAddress
    /// Handed over by systemd (socket activation): systemd owns the socket
    /// and its file, and keeps it listening while the worker restarts.
    public let inherited: Bool

    public init(address: BindAddress, unixSocketMode: Int = 0o660, backlog: Int32 = 1024) throws(SystemError) {
        self.address = address
        inherited = false
        switch address {
        case .unix(let path):
            descriptor = try Self.bindUnix(path: path, mode: mode_t(unixSocketMode & 0o777), backlog: backlog)
        case .tcp(let host, let port):
            descriptor = try Self.bindTCP(host: host, port: port, backlog: backlog)
        }
    }

    /// The listening socket systemd passed (`LISTEN_FDS`, `LISTEN_PID`: the
    /// first one, descriptor 3), or nil when there is none for this process.
    /// The variables are removed so that no child process takes the socket
    /// for its own.
    public static func inheritedFromSystemd(address: BindAddress) throws(SystemError) -> ListeningSocket? {
        defer {
            unsetenv("LISTEN_PID")
            unsetenv("LISTEN_FDS")
            unsetenv("LISTEN_FDNAMES")
        }
        guard let pidText = getenv("LISTEN_PID").map({ String(cString: $0) }), pid_t(pidText) == getpid(),
              let countText = getenv("LISTEN_FDS").map({ String(cString: $0) }), let count = Int(countText), count >= 1 else {
            return nil
        }
        let descriptor: Int32 = 3  // SD_LISTEN_FDS_START
        var accepting: Int32 = 0
        var length = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &accepting, &length) == 0, accepting == 1 else {
            throw SystemError("LISTEN_FDS", errno: ENOTSOCK, detail: "descriptor 3 is not a listening socket")
        }
        // The kind of socket --bind names (a unix stream socket for herd@.socket).
        var domain: Int32 = 0, type: Int32 = 0
        length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(descriptor, SOL_SOCKET, SO_DOMAIN, &domain, &length)
        length = socklen_t(MemoryLayout<Int32>.size)
        _ = getsockopt(descriptor, SOL_SOCKET, SO_TYPE, &type, &length)
        let wantsUnix: Bool = if case .unix = address { true } else { false }
        guard type == Int32(SOCK_STREAM.rawValue), (domain == AF_UNIX) == wantsUnix else {
            throw SystemError("LISTEN_FDS", errno: EPROTOTYPE,
                              detail: "descriptor 3 is not a \(wantsUnix ? "unix" : "TCP") stream socket, as --bind \(address) says")
        }
        // Ours to wait on in epoll, and never inherited by a child.
        let flags = fcntl(descriptor, F_GETFL)
        guard flags >= 0, fcntl(descriptor, F_SETFL, flags | O_NONBLOCK) == 0,
              fcntl(descriptor, F_SETFD, FD_CLOEXEC) == 0 else { throw SystemError("fcntl", detail: "inherited socket") }
        return ListeningSocket(inheriting: descriptor, address: address)
    }

    private init(inheriting descriptor: Int32, address: BindAddress) {
        self.descriptor = descriptor
        self.address = address
        inherited = true
    }

    /// Stops listening and removes the socket file. Safe to call twice. An
    /// inherited socket is only closed here: systemd keeps it (and its
    /// file) listening, and connections that arrive meanwhile wait in its
    /// backlog for the next worker.
    public func close() {
        let wasOpen = isOpen.withLock { open in
            defer { open = false }
            return open
        }
        guard wasOpen else { return }
        _ = Glibc.close(descriptor)
        if !inherited, case .unix(let path) = address { _ = unlink(path) }
    }

    private let isOpen = Locked(true)

    deinit { close() }

    // MARK: - unix

    private static func bindUnix(path: String, mode: mode_t, backlog: Int32) throws(SystemError) -> Int32 {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let pathBytes = Array(path.utf8)
        guard pathBytes.count < MemoryLayout.size(ofValue: address.sun_path) else {
            throw SystemError("bind", errno: ENAMETOOLONG, detail: path)
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: pathBytes)
            raw[pathBytes.count] = 0
        }
        try removeStaleSocket(at: path, address: address)

        let fd = try retryingOnInterrupt("socket") { socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0) }
        do throws(SystemError) {
            // Create the file with the wanted mode from the start: no window in
            // which nginx's user cannot connect, and none in which others can.
            let previousMask = umask(~mode & 0o777)
            let bound = withUnsafePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
            let bindErrno = errno
            umask(previousMask)
            if bound != 0 { throw SystemError("bind", errno: bindErrno, detail: path) }
            if chmod(path, mode) != 0 { throw SystemError("chmod", detail: path) }
            if listen(fd, backlog) != 0 { throw SystemError("listen", detail: path) }
        } catch {
            _ = Glibc.close(fd)
            throw error
        }
        return fd
    }

    /// A socket file left behind by a crashed worker would make bind fail with
    /// EADDRINUSE. Remove it only if it is a socket nobody listens on.
    private static func removeStaleSocket(at path: String, address: sockaddr_un) throws(SystemError) {
        var info = stat()
        guard lstat(path, &info) == 0 else { return }
        guard (info.st_mode & S_IFMT) == S_IFSOCK else {
            throw SystemError("bind", errno: EEXIST, detail: "\(path) exists and is not a socket")
        }
        let probe = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard probe >= 0 else { throw SystemError("socket") }
        defer { _ = Glibc.close(probe) }
        var target = address
        let connected = withUnsafePointer(to: &target) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(probe, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        if connected == 0 {
            throw SystemError("bind", errno: EADDRINUSE, detail: "another process is listening on \(path)")
        }
        _ = unlink(path)
    }

    // MARK: - tcp

    private static func bindTCP(host: String, port: UInt16, backlog: Int32) throws(SystemError) -> Int32 {
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV
        var results: UnsafeMutablePointer<addrinfo>?
        let status = getaddrinfo(host, String(port), &hints, &results)
        guard status == 0, let first = results else {
            let reason = String(cString: gai_strerror(status))
            throw SystemError("getaddrinfo", errno: EINVAL, detail: "\(host): \(reason)")
        }
        defer { freeaddrinfo(results) }

        var lastError = SystemError("bind", errno: EADDRNOTAVAIL, detail: "\(host):\(port)")
        var candidate: UnsafeMutablePointer<addrinfo>? = first
        while let info = candidate {
            candidate = info.pointee.ai_next
            let fd = socket(info.pointee.ai_family, info.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), info.pointee.ai_protocol)
            if fd < 0 { lastError = SystemError("socket"); continue }
            var one: Int32 = 1
            _ = setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<Int32>.size))
            if bind(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
                lastError = SystemError("bind", detail: "\(host):\(port)")
                _ = Glibc.close(fd)
                continue
            }
            if listen(fd, backlog) != 0 {
                lastError = SystemError("listen", detail: "\(host):\(port)")
                _ = Glibc.close(fd)
                continue
            }
            return fd
        }
        throw lastError
    }
}

