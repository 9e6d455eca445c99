import CFastCGI
import Synchronization
#if canImport(Glibc)
import Glibc
#endif

/// Handles requests on one accept thread. Each thread makes its own
/// responder, so a responder may own thread-confined resources (a curl
/// handle with its kept-alive origin connections) without locks.
public protocol FastCGIResponder: AnyObject {
    func respond(to exchange: FastCGIExchange)
}

/// A pool of threads, each running a libfcgi accept loop on one listening
/// socket, that can be stopped.
///
/// A plain `FCGX_Accept_r` loop blocks in accept(2), or in read(2) on a
/// kept-alive nginx connection, and never notices SIGTERM. Here every thread
/// waits in poll(2) on the listening socket (or its kept connection) *and* a
/// shutdown pipe, and only calls into libfcgi once there is something to read.
/// Stopping writes one byte to the pipe: idle threads return at once, busy
/// threads finish their request first.
public final class FastCGIServer: Sendable {
    public struct Configuration: Sendable {
        /// Accept threads; each serves one request at a time.
        public var threads: Int
        /// How long an idle kept-alive nginx connection may hold a thread
        /// while new connections are waiting to be accepted.
        public var keptConnectionYieldDelayMilliseconds: Int32

        public init(threads: Int, keptConnectionYieldDelayMilliseconds: Int32 = 5) {
            self.threads = threads
            self.keptConnectionYieldDelayMilliseconds = keptConnectionYieldDelayMilliseconds
        }
    }

    private let socket: ListeningSocket
    private let configuration: Configuration
    private let makeResponder: @Sendable () -> (any FastCGIResponder)?
    private let wakePipe: (read: Int32, write: Int32)
    private let state = Mutex(State())

    private struct State {
        var started = false
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
        wakePipe = (fds[0], fds[1])
        if FCGX_Init() != 0 { throw SystemError("FCGX_Init", errno: EIO) }
    }

    deinit {
        _ = close(wakePipe.read)
        _ = close(wakePipe.write)
    }

    /// Requests being answered right now.
    public var requestsInFlight: Int { state.withLock { $0.requestsInFlight } }

    /// Starts the accept threads.
    public func start() throws(SystemError) {
        let count = max(1, configuration.threads)
        state.withLock { $0.started = true; $0.liveThreads = count }
        for index in 0..<count {
            do {
                try spawnThread(name: "herd-fcgi-\(index)") { [self] in
                    acceptLoop()
                    state.withLock { $0.liveThreads -= 1 }
                }
            } catch {
                state.withLock { $0.liveThreads -= (count - index) }
                throw error
            }
        }
    }

    /// Stops accepting, waits up to `timeout` seconds for in-flight requests,
    /// and returns how many were still running when it gave up (0 = clean).
    public func shutdown(timeout: Double) -> Int {
        let alreadyStopping = state.withLock { state in
            defer { state.stopping = true }
            return state.stopping
        }
        if !alreadyStopping {
            var byte: UInt8 = 1
            _ = write(wakePipe.write, &byte, 1)
            // New connections are refused from now on; nginx's
            // fastcgi_next_upstream moves them to another worker.
            socket.close()
        }
        let deadline = monotonicSeconds() + timeout
        while true {
            let (live, inFlight) = state.withLock { ($0.liveThreads, $0.requestsInFlight) }
            if live == 0 { return 0 }
            if monotonicSeconds() >= deadline { return max(inFlight, 1) }
            usleep(10_000)
        }
    }

    // MARK: - Accept loop

    private enum Wake { case request, shutdown, retry }

    private func acceptLoop() {
        // A thread that cannot make its responder (out of memory) ends;
        // the factory reports why.
        guard let responder = makeResponder() else { return }
        let request = UnsafeMutablePointer<FCGX_Request>.allocate(capacity: 1)
        defer { request.deallocate() }
        request.initialize(to: FCGX_Request())
        guard FCGX_InitRequest(request, socket.descriptor, 0) == 0 else { return }
        defer { dropConnection(request) }

        while true {
            switch waitForWork(request) {
            case .shutdown: return
            case .retry: continue
            case .request: break
            }
            // Reads the params of a new connection or the next request on a
            // kept one. A negative result means another thread won the
            // accept (EAGAIN) or the connection closed: wait again.
            guard FCGX_Accept_r(request) >= 0 else { continue }

            state.withLock { $0.requestsInFlight += 1 }
            let exchange = FastCGIExchange(request: request)
            responder.respond(to: exchange)
            if exchange.aborted || exchange.peerGone {
                dropConnection(request)
            } else {
                FCGX_Finish_r(request)
            }
            state.withLock { $0.requestsInFlight -= 1 }
        }
    }

    private func waitForWork(_ request: UnsafeMutablePointer<FCGX_Request>) -> Wake {
        let kept = request.pointee.ipcFd
        var fds = [
            pollfd(fd: wakePipe.read, events: Int16(POLLIN), revents: 0),
            pollfd(fd: kept >= 0 ? kept : socket.descriptor, events: Int16(POLLIN), revents: 0),
        ]
        if kept >= 0 {
            fds.append(pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0))
        }
        let ready = poll(&fds, nfds_t(fds.count), -1)
        if ready < 0 { return errno == EINTR ? .retry : .shutdown }
        if fds[0].revents != 0 { return .shutdown }
        if fds[1].revents != 0 { return .request }
        // Only the listening socket is ready while this thread idles on a
        // kept connection. If no other thread picks the new connection up
        // within a few milliseconds, every other thread is busy: give the
        // kept connection back (nginx reconnects when it needs one) and serve
        // the waiting client instead of letting it queue behind an idle socket.
        if kept >= 0 {
            var listen = [pollfd(fd: socket.descriptor, events: Int16(POLLIN), revents: 0)]
            usleep(UInt32(configuration.keptConnectionYieldDelayMilliseconds) * 1000)
            if poll(&listen, 1, 0) > 0 { dropConnection(request) }
        }
        return .retry
    }

    /// Closes the connection without END_REQUEST. After FCGX_Finish_r or a
    /// failed accept the streams are already freed; FCGX_Free with close=0
    /// frees whatever is left, and we close the socket ourselves instead of
    /// libfcgi's lingering close, which can wait two seconds.
    private func dropConnection(_ request: UnsafeMutablePointer<FCGX_Request>) {
        FCGX_Free(request, 0)
        if request.pointee.ipcFd >= 0 {
            _ = close(request.pointee.ipcFd)
            request.pointee.ipcFd = -1
        }
    }
}

// MARK: - Threads and time

private final class ThreadBody {
    let name: String
    let body: @Sendable () -> Void
    init(name: String, body: @escaping @Sendable () -> Void) {
        self.name = name
        self.body = body
    }
}

/// Starts a detached pthread running `body`.
public func spawnThread(name: String, _ body: @escaping @Sendable () -> Void) throws(SystemError) {
    let context = Unmanaged.passRetained(ThreadBody(name: name, body: body)).toOpaque()
    var thread = pthread_t()
    var attributes = pthread_attr_t()
    pthread_attr_init(&attributes)
    defer { pthread_attr_destroy(&attributes) }
    pthread_attr_setdetachstate(&attributes, Int32(PTHREAD_CREATE_DETACHED))
    let result = pthread_create(&thread, &attributes, { raw in
        let box = Unmanaged<ThreadBody>.fromOpaque(raw!).takeRetainedValue()
        _ = herd_set_thread_name(String(box.name.prefix(15)))
        box.body()
        return nil
    }, context)
    if result != 0 {
        Unmanaged<ThreadBody>.fromOpaque(context).release()
        throw SystemError("pthread_create", errno: result)
    }
}

/// Seconds on the monotonic clock.
public func monotonicSeconds() -> Double {
    var now = timespec()
    clock_gettime(CLOCK_MONOTONIC, &now)
    return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
}
