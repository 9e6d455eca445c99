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
/// went idle again (for the dispatcher), under one pthread mutex and
/// condition variable.
final class ConnectionQueue: @unchecked Sendable {
    private var mutex = pthread_mutex_t()
    private var readyCondition = pthread_cond_t()
    private var ready: [Connection] = []
    private var readyHead = 0
    private var returned: [Connection] = []
    private var closed = false
    /// Writing a byte here wakes the dispatcher's poll.
    private let wakeDescriptor: Int32

    init(wakeDescriptor: Int32) {
        self.wakeDescriptor = wakeDescriptor
        pthread_mutex_init(&mutex, nil)
        pthread_cond_init(&readyCondition, nil)
    }

    deinit {
        pthread_cond_destroy(&readyCondition)
        pthread_mutex_destroy(&mutex)
    }

    /// Dispatcher: connections that have a request to read.
    func pushReady(_ connections: [Connection]) {
        guard !connections.isEmpty else { return }
        pthread_mutex_lock(&mutex)
        ready.append(contentsOf: connections)
        if connections.count == 1 {
            pthread_cond_signal(&readyCondition)
        } else {
            pthread_cond_broadcast(&readyCondition)
        }
        pthread_mutex_unlock(&mutex)
    }

    /// Worker: the next connection to serve; nil once closed and drained.
    func popReady() -> Connection? {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        while readyHead == ready.count {
            if closed { return nil }
            pthread_cond_wait(&readyCondition, &mutex)
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
        pthread_mutex_lock(&mutex)
        let accept = !closed
        if accept { returned.append(connection) }
        pthread_mutex_unlock(&mutex)
        if accept {
            var byte: UInt8 = 1
            _ = write(wakeDescriptor, &byte, 1)
        } else {
            connection.close()
        }
    }

    /// Dispatcher: the connections workers gave back since the last call.
    func takeReturned() -> [Connection] {
        pthread_mutex_lock(&mutex)
        defer { pthread_mutex_unlock(&mutex) }
        let result = returned
        returned.removeAll(keepingCapacity: true)
        return result
    }

    /// No more connections: workers finish what is queued, then stop.
    /// Returns the idle connections still held, for the caller to close.
    func close() -> [Connection] {
        pthread_mutex_lock(&mutex)
        closed = true
        let leftovers = returned
        returned.removeAll()
        pthread_cond_broadcast(&readyCondition)
        pthread_mutex_unlock(&mutex)
        return leftovers
    }
}
