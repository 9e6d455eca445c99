import Basics
import CFastCGI
import CSystemShims
import System
#if canImport(Glibc)
import Glibc
#endif

/// Handles requests on one accept thread. Each thread makes its own
/// responder, so a responder may own thread-confined resources (a curl
/// handle with its kept-alive origin connections) without locks.
public protocol FastCGIResponder: AnyObject {
    func respond(to exchange: FastCGIExchange)
}

/// Serves FastCGI on one listening socket with a pool of worker threads.
///
/// nginx keeps FastCGI connections open between requests
/// (`fastcgi_keep_conn on`), so a thread per connection would sit idle on a
/// kept connection while new ones wait in the backlog. Instead every idle
/// worker waits in one epoll set holding the listening socket and every
/// connection, each armed one-shot: when a request arrives, the kernel wakes
/// one worker, which reads and answers it on the spot and arms the
/// connection again. No thread hands a connection to another (a dispatcher
/// thread did, until measured: two context switches and a pipe write per
/// request). A plain libfcgi accept loop would also block in accept(2) and
/// never notice SIGTERM: a shutdown pipe in the same set wakes every worker.
public final class FastCGIServer: Sendable {
    public struct Configuration: Sendable {
        /// Worker threads; each serves one request at a time.
        public var threads: Int
        /// For a TCP socket: whether a peer may talk to this worker at all
        /// (`server.allowed_clients`). A refused peer's connection is closed
        /// before any record is read, and `refused` hears of it. Nil: every
        /// peer (a unix socket's are checked by the file system).
        public var admitPeer: (@Sendable (IPAddress) -> Bool)?
        public var refused: (@Sendable (IPAddress?) -> Void)?

        public init(threads: Int, admitPeer: (@Sendable (IPAddress) -> Bool)? = nil,
                    refused: (@Sendable (IPAddress?) -> Void)? = nil) {
            self.threads = threads
            self.admitPeer = admitPeer
            self.refused = refused
        }
    }

    /// libfcgi closes sockets with select(2), which corrupts memory for
    /// descriptors at or above FD_SETSIZE (1024); refuse such connections.
    private static let maximumDescriptor: Int32 = 1000

    private let socket: ListeningSocket
    private let configuration: Configuration
    private let makeResponder: @Sendable () -> (any FastCGIResponder)?
    private let wakePipe: (read: Int32, write: Int32)
    private let epoll: Int32
    private let connections = ConnectionTable()
    /// Guards `state`; shutdown waits on it for the threads to end.
    private let lock = ConditionLock()
    nonisolated(unsafe) private var stateValue = State()

    private func withState<T>(_ body: (inout State) -> T) -> T {
        lock.withLock { body(&stateValue) }
    }

    /// A thread ended: wakes a shutdown waiting for the last one.
    private func threadEnded(_ count: Int = 1) {
        lock.withLock {
            stateValue.liveThreads -= count
            lock.broadcast()
        }
    }

    private struct State {
        var stopping = false
        var liveThreads = 0
        var requestsInFlight = 0
    }

    public init(
        socket: ListeningSocket,
        configuration: Configuration,
        makeResponder: @escaping @Sendable () -> (any FastCGIResponder)?
    ) throws(SystemError) {
        self.socket = socket
        self.configuration = configuration
        self.makeResponder = makeResponder
        var fds: [Int32] = [-1, -1]
        guard herd_pipe_cloexec(&fds) == 0 else { throw SystemError("pipe2") }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        _ = fcntl(fds[1], F_SETFL, O_NONBLOCK)
        wakePipe = (fds[0], fds[1])
        epoll = herd_epoll_create()
        guard epoll >= 0 else { throw SystemError("epoll_create1") }
        // The shutdown pipe stays level-triggered: once written, it wakes
        // every worker, now and on each later wait.
        guard herd_epoll_add(epoll, wakePipe.read, 0) == 0,
              herd_epoll_add(epoll, socket.descriptor, 1) == 0 else { throw SystemError("epoll_ctl") }
        if FCGX_Init() != 0 { throw SystemError("FCGX_Init", errno: EIO) }
    }

    deinit {
        _ = close(wakePipe.read)
        _ = close(wakePipe.write)
        _ = close(epoll)
    }

    /// Requests being answered right now.
    public var requestsInFlight: Int { withState { $0.requestsInFlight } }

    /// Starts the workers.
    public func start() throws(SystemError) {
        let workers = max(1, configuration.threads)
        withState { $0.liveThreads = workers }
        var started = 0
        do throws(SystemError) {
            for index in 0..<workers {
                try spawnThread(name: "herd-worker-\(index)") { [self] in
                    workerLoop()
                    threadEnded()
                }
                started += 1
            }
        } catch {
            threadEnded(workers - started)
            _ = shutdown(timeout: 1)
            throw error
        }
    }

    /// Stops accepting, lets requests already sent and in flight finish
    /// for up to `timeout` seconds, and returns how many were still running
    /// when it gave up (0 = clean).
    public func shutdown(timeout: Double) -> Int {
        let alreadyStopping = withState { state in
            defer { state.stopping = true }
            return state.stopping
        }
        if !alreadyStopping {
            // New connections are refused from now on; nginx's
            // fastcgi_next_upstream moves them to another worker. Those
            // already in the backlog (connected, their request perhaps
            // written: when every worker is busy nobody accepts) are taken
            // first and served by the draining workers: closing the listener
            // would reset them.
            _ = herd_epoll_remove(epoll, socket.descriptor)
            // An inherited socket (systemd's) outlives this process: what
            // waits in its backlog is the next worker's, not to be taken now
            // and perhaps closed before its request arrives.
            if !socket.inherited { acceptPending(rearmListener: false) }
            socket.close()
            connections.closeIdle()
            var byte: UInt8 = 1
            _ = write(wakePipe.write, &byte, 1)
        }
        let deadline = MonotonicClock.now() + timeout
        let abandoned = lock.withLock {
            while stateValue.liveThreads > 0 {
                if !lock.wait(until: deadline), stateValue.liveThreads > 0 {
                    return max(stateValue.requestsInFlight, 1)
                }
            }
            return 0
        }
        if abandoned == 0 {
            for connection in connections.removeAll() { connection.close() }
        }
        return abandoned
    }

    // MARK: - Workers

    private func workerLoop() {
        // A worker that cannot make its responder (out of memory) ends;
        // the factory reports why.
        guard let responder = makeResponder() else { return }
        var ready = [Int32](repeating: -1, count: 8)
        var draining = false
        var drainStarted = 0.0
        while true {
            // After shutdown: what nginx has already sent is answered, then
            // the worker ends (the wait no longer blocks, but for a moment
            // while a connection accepted just before waits for its request).
            let waitMs: Int32 = draining ? (connections.hasFresh && MonotonicClock.now() - drainStarted < 2 ? 20 : 0) : -1
            guard let count = try? retryingOnInterrupt("epoll_wait", {
                herd_epoll_wait(epoll, &ready, draining ? Int32(ready.count) : 1, waitMs)
            }) else { return }
            var served = false
            for index in 0..<Int(count) {
                let fd = ready[index]
                if fd == wakePipe.read {
                    if !draining { drainStarted = MonotonicClock.now() }
                    draining = true
                } else if fd == socket.descriptor {
                    acceptPending()
                    served = true
                } else if let connection = connections.take(fd) {
                    serve(connection, with: responder)
                    served = true
                }
            }
            if draining, !served {
                if waitMs == 0 { return }
                // The wake pipe stays readable: pause rather than spin.
                usleep(10_000)
            }
        }
    }

    /// One request on `connection`: read, answered, and the connection armed
    /// again for nginx's next request (or closed).
    private func serve(_ connection: Connection, with responder: any FastCGIResponder) {
        let fd = connection.descriptor
        // Reads the params of the request waiting on this connection. A
        // negative result: nginx closed it (an idle keep-alive timeout) or
        // sent garbage; libfcgi may have closed the socket already.
        guard FCGX_Accept_r(connection.request) >= 0 else {
            drop(connection, fd)
            return
        }
        withState { $0.requestsInFlight += 1 }
        defer { withState { $0.requestsInFlight -= 1 } }
        let exchange = FastCGIExchange(request: connection.request)
        responder.respond(to: exchange)
        if exchange.aborted || exchange.peerGone {
            // Cut short on purpose (or nobody listens): no END_REQUEST.
            drop(connection, fd)
            return
        }
        if connection.request.pointee.keepConnection == 0 {
            // nginx did not ask to keep it: FCGX_Finish_r writes END_REQUEST
            // and closes it; the table forgets it first.
            connections.remove(connection, descriptor: fd)
            FCGX_Finish_r(connection.request)
            return
        }
        // Writes END_REQUEST (libfcgi closes the socket if that fails); the
        // connection then waits for the next request, unless the worker is
        // stopping.
        FCGX_Finish_r(connection.request)
        let epoll = self.epoll
        if !connections.putBack(connection, descriptor: fd, rearm: { herd_epoll_rearm(epoll, fd) == 0 }) {
            drop(connection, fd)
        }
    }

    private func drop(_ connection: Connection, _ fd: Int32) {
        connections.remove(connection, descriptor: fd)
        connection.close()
    }

    /// The peer of a TCP connection, nil for any other kind.
    private static func peerAddress(_ fd: Int32) -> IPAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let got = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
        }
        guard got == 0 else { return nil }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafeBytes(of: &storage) { raw in
                let address = raw.load(as: sockaddr_in.self)
                return .v4(UInt32(bigEndian: address.sin_addr.s_addr))
            }
        case AF_INET6:
            return withUnsafeBytes(of: &storage) { raw in
                let address = raw.load(as: sockaddr_in6.self)
                let value = withUnsafeBytes(of: address.sin6_addr) { Array($0) }.reduce(UInt128(0)) { $0 << 8 | UInt128($1) }
                // An IPv4 peer of a dual-stack socket (::ffff:a.b.c.d) is that IPv4 address.
                if value >> 32 == 0xffff { return .v4(UInt32(truncatingIfNeeded: value)) }
                return .v6(value)
            }
        default:
            return nil
        }
    }

    private static func setTimeout(_ fd: Int32, _ option: Int32, seconds: Int) {
        var value = timeval(tv_sec: seconds, tv_usec: 0)
        _ = setsockopt(fd, SOL_SOCKET, option, &value, socklen_t(MemoryLayout<timeval>.size))
    }

    /// Accepts every pending connection, adds each to the set (armed: its
    /// first request may already be there), and arms the listener again.
    private func acceptPending(rearmListener: Bool = true) {
        defer { if rearmListener, !withState({ $0.stopping }) { _ = herd_epoll_rearm(epoll, socket.descriptor) } }
        while true {
            let fd = (try? retryingOnInterrupt("accept4") { herd_accept_cloexec(socket.descriptor) }) ?? -1
            if fd < 0 {
                if errno == ECONNABORTED { continue }
                // EAGAIN: nothing more pending. EMFILE and the like: leave
                // the rest in the backlog; a millisecond's pause keeps the
                // re-armed listener from spinning until a descriptor frees.
                if errno != EAGAIN && errno != EWOULDBLOCK { usleep(1_000) }
                return
            }
            if fd >= Self.maximumDescriptor {
                _ = close(fd)
                continue
            }
            if let admit = configuration.admitPeer {
                // Not a client this worker serves (or one whose address
                // cannot be told): closed before any record is read.
                let peer = Self.peerAddress(fd)
                guard let peer, admit(peer) else {
                    _ = close(fd)
                    configuration.refused?(peer)
                    continue
                }
            }
            // A peer that sends part of a request and stops must not hold a
            // worker: reads and writes give up after these.
            Self.setTimeout(fd, SO_RCVTIMEO, seconds: 30)
            Self.setTimeout(fd, SO_SNDTIMEO, seconds: 60)
            let connection = Connection(descriptor: fd)
            let epoll = self.epoll
            if !connections.insert(connection, arm: { herd_epoll_add(epoll, fd, 1) == 0 }) { connection.close() }
        }
    }
}

// MARK: - Threads and time
