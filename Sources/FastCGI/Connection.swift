import Basics
import CFastCGI
#if canImport(Glibc)
import Glibc
#endif

/// One connection from nginx and the libfcgi request state bound to it.
///
/// Owned by exactly one party at a time — the dispatcher while it is idle,
/// a worker while a request on it is served — and handed over through
/// `ConnectionQueue` under its lock.
final class Connection: @unchecked Sendable {
    let request: UnsafeMutablePointer<FCGX_Request>

    init(descriptor: Int32) {
        request = .allocate(capacity: 1)
        request.initialize(to: FCGX_Request())
        // No listening socket: FCGX_Accept_r must only ever read from this
        // connection, never accept a new one behind the dispatcher's back.
        FCGX_InitRequest(request, -1, 0)
        request.pointee.ipcFd = descriptor
        // Until nginx's first BEGIN_REQUEST says otherwise: stops the
        // FCGX_Finish_r at the top of FCGX_Accept_r from closing the socket.
        request.pointee.keepConnection = 1
    }

    var descriptor: Int32 { request.pointee.ipcFd }
    var isOpen: Bool { request.pointee.ipcFd >= 0 }

    /// Closes without END_REQUEST. libfcgi's own close lingers (shutdown,
    /// then up to 2 s of select(2) for the peer's EOF); we close directly.
    func close() {
        FCGX_Free(request, 0)
        if request.pointee.ipcFd >= 0 {
            _ = Glibc.close(request.pointee.ipcFd)
            request.pointee.ipcFd = -1
        }
    }

    deinit {
        close()
        request.deallocate()
    }
}

/// Connections with a request waiting (for workers) and connections that
/// went idle again (for the dispatcher), under one lock whose condition
/// wakes workers.
final class ConnectionQueue: @unchecked Sendable {
    private let lock = ConditionLock()
    private var ready: [Connection] = []
    private var readyHead = 0
    private var returned: [Connection] = []
    private var closed = false
    /// Writing a byte here wakes the dispatcher's poll.
    private let wakeDescriptor: Int32

    init(wakeDescriptor: Int32) {
        self.wakeDescriptor = wakeDescriptor
    }

    /// Dispatcher: connections that have a request to read.
    func pushReady(_ connections: [Connection]) {
        guard !connections.isEmpty else { return }
        lock.lock()
        ready.append(contentsOf: connections)
        if connections.count == 1 {
            lock.signal()
        } else {
            lock.broadcast()
        }
        lock.unlock()
    }

    /// Worker: the next connection to serve; nil once closed and drained.
    func popReady() -> Connection? {
        lock.lock()
        defer { lock.unlock() }
        while readyHead == ready.count {
            if closed { return nil }
            lock.wait()
        }
        let connection = ready[readyHead]
        readyHead += 1
        if readyHead == ready.count {
            ready.removeAll(keepingCapacity: true)
            readyHead = 0
        }
        return connection
    }

    /// Worker: a kept-alive connection goes back to the dispatcher to wait
    /// for nginx's next request. After shutdown it is closed instead.
    func returnIdle(_ connection: Connection) {
        lock.lock()
        let accept = !closed
        if accept { returned.append(connection) }
        lock.unlock()
        if accept {
            var byte: UInt8 = 1
            _ = write(wakeDescriptor, &byte, 1)
        } else {
            connection.close()
        }
    }

    /// Dispatcher: the connections workers gave back since the last call.
    func takeReturned() -> [Connection] {
        lock.lock()
        defer { lock.unlock() }
        let result = returned
        returned.removeAll(keepingCapacity: true)
        return result
    }

    /// No more connections: workers finish what is queued, then stop.
    /// Returns the idle connections still held, for the caller to close.
    func close() -> [Connection] {
        lock.lock()
        closed = true
        let leftovers = returned
        returned.removeAll()
        lock.broadcast()
        lock.unlock()
        return leftovers
    }
}
