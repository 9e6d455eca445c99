import Basics
import CFastCGI
import CSystemShims
#if canImport(Glibc)
import Glibc
#endif

/// Handles requests on one accept thread. Each thread makes its own
/// responder, so a responder may own thread-confined resources (a curl
/// handle with its kept-alive origin connections) without locks.
public protocol FastCGIResponder: AnyObject {
    func respond(to exchange: FastCGIExchange)
}

/// Serves FastCGI on one listening socket with a dispatcher thread and a
/// pool of worker threads.
///
/// nginx keeps FastCGI connections open between requests
/// (`fastcgi_keep_conn on`), so a thread per connection would sit idle on a
/// kept connection while new ones wait in the backlog. Instead one
/// dispatcher polls the listening socket and every idle connection, and
/// hands a connection to a worker only when a request is readable on it
/// (epoll: one system call per event, not a scan of every idle connection);
/// the worker gives it back when the request is done. A plain libfcgi
/// accept loop would also block in accept(2) and never notice SIGTERM: the
/// dispatcher polls a shutdown pipe too, and workers wait on a condition
/// variable that shutdown broadcasts.
public final class FastCGIServer: Sendable {
    public struct Configuration: Sendable {
        /// Worker threads; each serves one request at a time.
        public var threads: Int

        public init(threads: Int) {
            self.threads = threads
        }
    }

    /// libfcgi closes sockets with select(2), which corrupts memory for
    /// descriptors at or above FD_SETSIZE (1024); refuse such connections.
    private static let maximumDescriptor: Int32 = 1000

    private let socket: ListeningSocket
    private let configuration: Configuration
    private let makeResponder: @Sendable () -> (any FastCGIResponder)?
    private let wakePipe: (read: Int32, write: Int32)
    private let queue: ConnectionQueue
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
        queue = ConnectionQueue(wakeDescriptor: fds[1])
        if FCGX_Init() != 0 { throw SystemError("FCGX_Init", errno: EIO) }
    }

    deinit {
        _ = close(wakePipe.read)
        _ = close(wakePipe.write)
    }

    /// Requests being answered right now.
    public var requestsInFlight: Int { withState { $0.requestsInFlight } }

    /// Starts the dispatcher and the workers.
    public func start() throws(SystemError) {
        let workers = max(1, configuration.threads)
        withState { $0.liveThreads = workers + 1 }
        var started = 0
        do throws(SystemError) {
            try spawnThread(name: "herd-dispatch") { [self] in
                dispatchLoop()
                threadEnded()
            }
            started = 1
            for index in 0..<workers {
                try spawnThread(name: "herd-worker-\(index)") { [self] in
                    workerLoop()
                    threadEnded()
                }
                started += 1
            }
        } catch {
            threadEnded(workers + 1 - started)
            _ = shutdown(timeout: 1)
            throw error
        }
    }

    /// Stops accepting, lets queued and in-flight requests finish for up to
    /// `timeout` seconds, and returns how many were still running when it
    /// gave up (0 = clean).
    public func shutdown(timeout: Double) -> Int {
        let alreadyStopping = withState { state in
            defer { state.stopping = true }
            return state.stopping
        }
        if !alreadyStopping {
            var byte: UInt8 = 1
            _ = write(wakePipe.write, &byte, 1)
        }
        let deadline = MonotonicClock.now() + timeout
        return lock.withLock {
            while stateValue.liveThreads > 0 {
                if !lock.wait(until: deadline), stateValue.liveThreads > 0 {
                    return max(stateValue.requestsInFlight, 1)
                }
            }
            return 0
        }
    }

    // MARK: - Dispatcher

    private func dispatchLoop() {
        // epoll rather than poll(2): with nginx keeping dozens of idle
        // connections, poll would scan all of them for every request.
        let epoll = herd_epoll_create()
        guard epoll >= 0 else { return }
        var idle: [Int32: Connection] = [:]
        defer {
            // New connections are refused from now on; nginx's
            // fastcgi_next_upstream moves them to another worker.
            socket.close()
            for connection in Array(idle.values) + queue.close() { connection.close() }
            _ = close(epoll)
        }
        func watch(_ fd: Int32) -> Bool { herd_epoll_watch(epoll, fd) == 0 }
        guard watch(wakePipe.read), watch(socket.descriptor) else { return }
        var ready = [Int32](repeating: -1, count: 256)
        while true {
            for connection in queue.takeReturned() {
                if watch(connection.descriptor) {
                    idle[connection.descriptor] = connection
                } else {
                    connection.close()
                }
            }
            let count = herd_epoll_wait(epoll, &ready, Int32(ready.count))
            if count < 0 {
                if errno == EINTR { continue }
                return
            }
            var readyNow: [Connection] = []
            for index in 0..<Int(count) {
                let fd = ready[index]
                if fd == wakePipe.read {
                    drainWakePipe()
                    if withState({ $0.stopping }) { return }
                } else if fd == socket.descriptor {
                    readyNow.append(contentsOf: acceptPending())
                } else if let connection = idle.removeValue(forKey: fd) {
                    // A request (or EOF) to read: a worker's FCGX_Accept_r
                    // reads the request or notices the close.
                    _ = herd_epoll_unwatch(epoll, fd)
                    readyNow.append(connection)
                }
            }
            queue.pushReady(readyNow)
        }
    }

    private func acceptPending() -> [Connection] {
        var accepted: [Connection] = []
        while true {
            let fd = herd_accept_cloexec(socket.descriptor)
            if fd < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                // EAGAIN: nothing more pending. EMFILE and the like: leave
                // the rest in the backlog and retry on the next poll.
                if errno != EAGAIN && errno != EWOULDBLOCK { usleep(1_000) }
                return accepted
            }
            if fd >= Self.maximumDescriptor {
                _ = close(fd)
                continue
            }
            accepted.append(Connection(descriptor: fd))
        }
    }

    private func drainWakePipe() {
        var buffer = [UInt8](repeating: 0, count: 256)
        while read(wakePipe.read, &buffer, buffer.count) > 0 {}
    }

    // MARK: - Workers

    private func workerLoop() {
        // A worker that cannot make its responder (out of memory) ends;
        // the factory reports why.
        guard let responder = makeResponder() else { return }
        while let connection = queue.popReady() {
            // Reads the params of the request waiting on this connection.
            // A negative result: nginx closed it (an idle keep-alive
            // timeout) or sent garbage.
            guard FCGX_Accept_r(connection.request) >= 0 else {
                connection.close()
                continue
            }
            withState { $0.requestsInFlight += 1 }
            let exchange = FastCGIExchange(request: connection.request)
            responder.respond(to: exchange)
            if exchange.aborted || exchange.peerGone {
                connection.close()
            } else {
                // Writes END_REQUEST; closes the socket itself unless nginx
                // asked to keep the connection.
                FCGX_Finish_r(connection.request)
            }
            withState { $0.requestsInFlight -= 1 }
            if connection.isOpen {
                queue.returnIdle(connection)
            }
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

