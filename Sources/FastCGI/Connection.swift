import Basics
import CFastCGI
import System
#if canImport(Glibc)
import Glibc
#endif

/// One connection from nginx and the libfcgi request state bound to it.
///
/// Served by one worker at a time: its descriptor is armed in epoll
/// one-shot, so only the worker epoll reports it to reads it, and that
/// worker arms it again when the request is done.
final class Connection: @unchecked Sendable {
    let request: UnsafeMutablePointer<FCGX_Request>

    init(descriptor: Int32) {
        request = .allocate(capacity: 1)
        request.initialize(to: FCGX_Request())
        // No listening socket: FCGX_Accept_r must only ever read from this
        // connection, never accept a new one behind the server's back.
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

/// Every open connection by descriptor: how a worker finds the connection
/// epoll reported, and what shutdown closes. A connection leaves the table
/// before its descriptor is closed, so a number the kernel hands out again
/// never finds the old connection. A connection being served is `busy`;
/// shutdown closes the others at once, so nginx drops them from its
/// keep-alive cache instead of sending a request nobody will read.
final class ConnectionTable: @unchecked Sendable {
    private let lock = ConditionLock()
    private var connections: [Int32: (connection: Connection, busy: Bool)] = [:]
    private var closing = false
    /// Accepted and never served yet: nginx connected, its request may
    /// still be on the way. Shutdown waits for it instead of closing it.
    private var fresh: Set<Int32> = []

    /// A new connection, armed in epoll by `arm` under the table's lock.
    func insert(_ connection: Connection, arm: () -> Bool) -> Bool {
        lock.withLock {
            guard !closing, arm() else { return false }
            connections[connection.descriptor] = (connection, false)
            fresh.insert(connection.descriptor)
            return true
        }
    }

    /// Whether a connection accepted before shutdown still waits for its
    /// first request.
    var hasFresh: Bool { lock.withLock { !fresh.isEmpty } }

    /// The connection epoll reported, now busy; nil when it is gone.
    func take(_ descriptor: Int32) -> Connection? {
        lock.withLock {
            guard let entry = connections[descriptor], !entry.busy else { return nil }
            connections[descriptor] = (entry.connection, true)
            fresh.remove(descriptor)
            return entry.connection
        }
    }

    /// A served connection waits for nginx's next request again: armed by
    /// `rearm` under the lock. False when it must be closed instead.
    ///
    /// Matched by identity, not only by number: libfcgi closes a socket
    /// itself when a read or write fails, and the kernel may already have
    /// handed the number to a new connection.
    func putBack(_ connection: Connection, descriptor: Int32, rearm: () -> Bool) -> Bool {
        lock.withLock {
            guard !closing, connection.isOpen, let entry = connections[descriptor], entry.connection === connection,
                  entry.busy, rearm() else { return false }
            connections[descriptor] = (connection, false)
            return true
        }
    }

    /// Forgets `connection`, if the number still names it.
    func remove(_ connection: Connection, descriptor: Int32) {
        lock.withLock {
            if connections[descriptor]?.connection === connection { connections[descriptor] = nil }
        }
    }

    /// Shutdown: closes every connection that is neither being served nor
    /// holding a request nginx already sent (that one is left for the
    /// draining workers: closing it would reset it under nginx's feet), and
    /// refuses to arm any from now on.
    func closeIdle() {
        lock.withLock {
            closing = true
            for (descriptor, entry) in connections where !entry.busy && !fresh.contains(descriptor) {
                var waiting = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
                if poll(&waiting, 1, 0) > 0, waiting.revents & Int16(POLLIN) != 0 { continue }
                connections[descriptor] = nil
                entry.connection.close()
            }
        }
    }

    /// Empties the table; the caller closes what it returns.
    func removeAll() -> [Connection] {
        lock.withLock {
            defer { connections.removeAll(); fresh.removeAll() }
            return connections.values.map(\.connection)
        }
    }
}
