import Basics
import Foundation
@testable import Remote
import Testing
import Upstream
#if canImport(Glibc)
import Glibc
import HerdTestSupport
#endif

/// The guard at connect time, with real sockets: a listener on 127.0.0.1
/// that the guard refuses must see no connection at all, whatever spelling
/// of its address the URL uses.
@Suite("Connect-time address guard")
struct ConnectGuardTests {
    /// A listening socket that never accepts: every completed handshake
    /// waits in its backlog, where `connections()` counts it.
    final class CountingListener {
        let descriptor: Int32
        let port: UInt16

        init() throws {
            (descriptor, port) = try LoopbackListener.open(backlog: 64, nonBlocking: true)
        }

        /// Connections that reached the listener so far.
        func connections() -> Int {
            var count = 0
            while true {
                let fd = accept(descriptor, nil, nil)
                if fd < 0 { return count }
                count += 1
                close(fd)
            }
        }

        deinit { close(descriptor) }
    }

    static func client(allow: [IPNetwork] = []) throws -> UpstreamClient {
        let guardian = AddressGuard(allowNetworks: allow)
        return try UpstreamClient(configuration: .init(
            connectTimeoutMilliseconds: 2000, idleTimeoutSeconds: 2, transferTimeoutSeconds: 5, minSpeedBytesPerSecond: 1,
            maxBodyBytes: 1 << 20, userAgent: "herd-test", caFile: nil,
            admitAddress: { guardian.verdict(for: IPAddress($0)) == .allowed }))
    }

    final class Sink: UpstreamResponseSink {
        func receiveHead(_ head: UpstreamResponseHead) -> Bool { true }
        func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool { true }
    }

    @Test("every spelling of a refused address: refused before a socket exists, and the listener saw zero connections")
    func spellings() throws {
        let listener = try CountingListener()
        let client = try Self.client()
        let port = listener.port
        let spellings = ["127.0.0.1", "2130706433", "0x7f.1", "0177.0.0.1", "127.1", "0x7f000001", "127.000.000.001",
                         "[::ffff:127.0.0.1]", "[::ffff:7f00:1]", "localhost", "LocalHost"]
        for host in spellings {
            let outcome = client.fetch(UpstreamRequest(url: "http://\(host):\(port)/secret"), into: Sink())
            #expect(outcome.status == nil, "\(host)")
            let kind = outcome.error?.kind
            #expect(kind == .refusedAddress || kind == .connect || kind == .dns || kind == .other, "\(host): \(String(describing: outcome.error))")
        }
        #expect(listener.connections() == 0)
    }

    @Test("an allowed network is fetched (the same listener, let in by remote.allow_networks)")
    func allowed() throws {
        let listener = try CountingListener()
        let client = try Self.client(allow: [try #require(IPNetwork("127.0.0.1/32"))])
        // The listener never answers: the transfer times out, but it connected.
        _ = client.fetch(UpstreamRequest(url: "http://127.0.0.1:\(listener.port)/"), into: Sink())
        #expect(listener.connections() == 1)
    }
}
