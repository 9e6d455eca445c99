import Crypto
import FastCGI
import Foundation
import Logging
import Settings
import System
import Upstream

/// Purges over HTTP, as the apps send them: Mastodon's cache buster
/// (`CACHE_BUSTER_HTTP_METHOD`, a secret in `CACHE_BUSTER_SECRET_HEADER`, to
/// each deleted file's URL) and Akkoma's `MediaProxy.Invalidation.Http` (a
/// PURGE with configured headers). nginx hands such a request to this
/// service over FastCGI (`herd purge-server`, running as nginx's user so it
/// may delete nginx's cache files); it checks the secret, removes every
/// variant of the URL from this machine's nginx cache, tells this machine's
/// workers to forget the source, and relays the purge once to every other
/// node (`purge.nodes`), so that one request leaves no copy anywhere.
public final class PurgeService: Sendable {
    /// The params nginx passes (install/purge-pass.conf); nothing else of
    /// the request reaches this service.
    public enum Param {
        public static let method = "REQUEST_METHOD"
        public static let uri = "REQUEST_URI"
        public static let host = "HERD_PURGE_HOST"
        public static let secret = "HERD_PURGE_SECRET"
        public static let relayed = "HERD_PURGE_RELAYED"
        public static let peer = "REMOTE_ADDR"
    }

    /// The header the secret travels in, from the apps and between nodes.
    public static let secretHeader = "X-Herd-Purge-Secret"
    /// Set on a relayed purge: the node purges itself and relays no further.
    public static let relayedHeader = "X-Herd-Purge-Relayed"

    let cache: CachePurge
    /// `purge.sockets`; empty: the pool's sockets found at each purge.
    let configuredWorkerSockets: [String]
    let nodes: [String]
    let secret: PurgeSecret
    let logger: Logger
    /// `purge.repeat_after`: a second local pass this many seconds after the
    /// first (0: none). It removes what a fill already under way when the
    /// purge came stored afterwards (nginx waits up to its cache lock's age
    /// for one), and what another cache refilled meanwhile.
    let repeatAfter: Double
    /// At most this many purges wait for their relays before answering; the
    /// relays of the rest go in the background. Relayed purges never relay,
    /// so with `threads` above this, some threads are always free for the
    /// purges other machines relay here: two machines relaying to each
    /// other at once cannot hold each other's threads.
    static let synchronousRelays = 8
    static let threads = 16
    private let relaySlots = Locked(0)
    private let refusals = OncePerSecond()

    public init(cache: CachePurge, workerSockets: [String], nodes: [String], secret: String, repeatAfter: Double = 15,
                logger: Logger) {
        self.cache = cache
        configuredWorkerSockets = workerSockets
        self.nodes = nodes
        self.secret = PurgeSecret(secret)
        self.repeatAfter = repeatAfter
        self.logger = logger
    }

    /// What one purge did, here and on the other nodes; its JSON is the
    /// answer's body.
    public struct Outcome: Codable, Sendable {
        public struct Node: Codable, Sendable {
            public var node: String
            public var status: Int?
            public var removed: Int?
            public var error: String?
        }
        public var url: String
        /// Cache entries removed on this machine.
        public var removed: Int
        public var workersForgot: Int
        public var workersTold: Int
        /// `none` (no nodes, or a relayed purge), `done` (their answers are in
        /// `nodes`) or `queued` (sent in the background: too many purges at once).
        public var relays: String
        public var nodes: [Node]
        /// Here and on every node that answered.
        public var removedEverywhere: Int
        public var errors: [String]

        enum CodingKeys: String, CodingKey {
            case url, removed, relays, nodes, errors
            case workersForgot = "workers_forgot", workersTold = "workers_told", removedEverywhere = "removed_everywhere"
        }
    }

    public struct Answer: Sendable {
        public var status: Int
        public var body: String
    }

    /// One request from nginx. `relay` sends a purge on to one node (an
    /// HTTP client per node, owned by the calling thread).
    public func answer(params: some RequestParams, relay: @escaping (_ nodeIndex: Int, _ request: UpstreamRequest) -> RelayResult) -> Answer {
        let uri = params.param(Param.uri) ?? ""
        let host = (params.param(Param.host) ?? "").lowercased()
        let peer = params.param(Param.peer) ?? "-"
        let method = params.param(Param.method) ?? "-"
        let relayed = params.param(Param.relayed) == "1"
        guard let given = params.param(Param.secret), !given.isEmpty, secret.matches(given) else {
            // Never the secret given, nor ours: which one it was tells nothing
            // useful. At most a line a second.
            if let skipped = refusals.admit() {
                logger.warning("purge refused: wrong or missing secret", metadata: [
                    "peer": .string(peer), "method": .string(method), "uri": .string(String(uri.prefix(300))),
                    "secret": .string((params.param(Param.secret) ?? "").isEmpty ? "missing" : "wrong"),
                    "refused_since_last_line": .stringConvertible(skipped),
                ])
            }
            return Answer(status: 403, body: #"{"error":"purge refused: wrong or missing \#(Self.secretHeader)"}"# + "\n")
        }
        let url = "https://\(host)\(uri)"
        guard uri.hasPrefix("/"), !host.isEmpty, !host.contains("/"), CachePurge.keys(for: url) != nil else {
            logger.warning("purge refused: not a URL", metadata: ["peer": .string(peer), "uri": .string(String(uri.prefix(300)))])
            return Answer(status: 400, body: #"{"error":"not a URL to purge"}"# + "\n")
        }

        // The other machines first: an edge that emptied its own cache first
        // would refill it from a node's old copy on the next miss.
        var outcome = Outcome(url: url, removed: 0, workersForgot: 0, workersTold: 0, relays: "none", nodes: [],
                              removedEverywhere: 0, errors: [])
        if !relayed, !nodes.isEmpty {
            let synchronous = relaySlots.withLock { slots in
                guard slots < Self.synchronousRelays else { return false }
                slots += 1
                return true
            }
            if synchronous {
                defer { relaySlots.withLock { $0 -= 1 } }
                outcome.relays = "done"
                for (index, result) in relayToNodes(uri: uri, host: host, relay: relay).enumerated() {
                    let node = Outcome.Node(node: nodes[index], status: result.status, removed: result.removed, error: result.error)
                    outcome.nodes.append(node)
                    if let removed = node.removed { outcome.removedEverywhere += removed }
                    if node.status != 200 || node.error != nil {
                        outcome.errors.append("node \(nodes[index]): " + (node.error ?? "answered \(node.status.map(String.init) ?? "nothing")"))
                    }
                }
            } else {
                outcome.relays = "queued"
                relayInBackground(uri: uri, host: host, url: url)
            }
        }

        // Then this machine: the workers forget the source, then nginx's files go.
        let workerSockets = CachePurge.workerSockets(configured: configuredWorkerSockets)
        let report = cache.purgeEverywhere(url, sockets: workerSockets) ?? CachePurge.Report(removed: [], forgotten: 0, workerErrors: [])
        outcome.removed = report.removed.count
        outcome.removedEverywhere += report.removed.count
        outcome.workersForgot = report.forgotten
        outcome.workersTold = workerSockets.count
        outcome.errors = report.workerErrors + outcome.errors
        scheduleSecondPass(url)

        logger.notice("purged", metadata: [
            "url": .string(url), "removed": .stringConvertible(outcome.removed), "workers_forgot": .stringConvertible(outcome.workersForgot),
            "nodes": .stringConvertible(outcome.nodes.count), "relays": .string(outcome.relays),
            "removed_everywhere": .stringConvertible(outcome.removedEverywhere),
            "relayed": .string(relayed ? "yes" : "no"), "peer": .string(peer), "errors": .stringConvertible(outcome.errors.count),
        ])
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(outcome)).map { String(decoding: $0, as: UTF8.self) } ?? "{}"
        // 502 when a node or a worker could not be reached: the purge is not
        // known to be complete.
        return Answer(status: outcome.errors.isEmpty ? 200 : 502, body: body + "\n")
    }

    /// The purge relayed to every node at once, each with its own client.
    private func relayToNodes(uri: String, host: String,
                              relay: @escaping (_ nodeIndex: Int, _ request: UpstreamRequest) -> RelayResult) -> [RelayResult] {
        let results = Locked([RelayResult](repeating: RelayResult(error: "not sent"), count: nodes.count))
        // Each node has its own client (index → client), so the relays run
        // side by side: a dead node costs its connect timeout once.
        let relay = DisjointRelays(call: relay)
        DispatchQueue.concurrentPerform(iterations: nodes.count) { index in
            let result = relay.call(index, relayRequest(node: nodes[index], uri: uri, host: host))
            results.withLock { $0[index] = result }
        }
        return results.withLock { $0 }
    }

    private func relayRequest(node: String, uri: String, host: String) -> UpstreamRequest {
        UpstreamRequest(url: node + uri, headers: [("Host", host), (Self.secretHeader, secret.value), (Self.relayedHeader, "1")],
                        method: "PURGE")
    }

    /// Relays that no thread of this server waits for (too many purges at
    /// once); what they did goes to the log.
    private func relayInBackground(uri: String, host: String, url: String) {
        for node in nodes {
            let request = relayRequest(node: node, uri: uri, host: host)
            DispatchQueue.global().async { [logger] in
                guard let client = try? UpstreamClient(configuration: Self.relayClientConfiguration()) else { return }
                let result = Self.relay(request, with: client)
                if result.status == 200, result.error == nil {
                    logger.info("purge relayed in the background", metadata: ["url": .string(url), "node": .string(node),
                                                                               "removed": .stringConvertible(result.removed ?? 0)])
                } else {
                    logger.warning("purge relay failed", metadata: ["url": .string(url), "node": .string(node),
                                                                    "error": .string(result.error ?? "status \(result.status ?? 0)")])
                }
            }
        }
    }

    /// The same purge on this machine again, `repeatAfter` seconds later.
    private func scheduleSecondPass(_ url: String) {
        guard repeatAfter > 0 else { return }
        DispatchQueue.global().asyncAfter(deadline: .now() + repeatAfter) { [cache, configuredWorkerSockets, logger] in
            let sockets = CachePurge.workerSockets(configured: configuredWorkerSockets)
            guard let report = cache.purgeEverywhere(url, sockets: sockets) else { return }
            if !report.removed.isEmpty {
                logger.notice("purged again: entries stored while the first pass ran", metadata: [
                    "url": .string(url), "removed": .stringConvertible(report.removed.count),
                ])
            }
        }
    }

    /// How a relay to one node went.
    public struct RelayResult: Sendable {
        public var status: Int?
        public var removed: Int?
        public var error: String?

        public init(status: Int? = nil, removed: Int? = nil, error: String? = nil) {
            self.status = status
            self.removed = removed
            self.error = error
        }
    }

    /// Sends `request` with `client` and reads the node's answer (the same
    /// JSON this service writes).
    public static func relay(_ request: UpstreamRequest, with client: UpstreamClient) -> RelayResult {
        let sink = SmallBody(limit: 64 << 10)
        let outcome = client.fetch(request, into: sink)
        if let error = outcome.error { return RelayResult(status: outcome.status, error: error.message) }
        let removed = (try? JSONDecoder().decode(Outcome.self, from: Data(sink.bytes)))?.removed
        return RelayResult(status: outcome.status, removed: removed,
                           error: removed == nil && outcome.status == 200 ? "the answer is not a Herd purge report" : nil)
    }

    /// A client for relays: short timeouts, small answers.
    public static func relayClientConfiguration() -> UpstreamClient.Configuration {
        UpstreamClient.Configuration(connectTimeoutMilliseconds: 2_000, idleTimeoutSeconds: 5, transferTimeoutSeconds: 10,
                                     minSpeedBytesPerSecond: 1, maxBodyBytes: 64 << 10,
                                     userAgent: "herd/\(HerdVersion.string) (purge relay)", caFile: nil)
    }
}

/// The purge secret, compared in constant time: both sides go through an
/// HMAC under a key made at start, and the MACs are compared with
/// swift-crypto's constant-time equality, so neither the length nor the
/// first differing byte of a guess shows in the time taken.
struct PurgeSecret: Sendable {
    let value: String
    private let key: [UInt8]
    private let expected: [UInt8]

    init(_ value: String) {
        self.value = value
        let key = SymmetricKey(size: .bits256)
        self.key = key.withUnsafeBytes { Array($0) }
        expected = Array(HMAC<SHA256>.authenticationCode(for: Array(value.utf8), using: key))
    }

    func matches(_ given: String) -> Bool {
        HMAC<SHA256>.isValidAuthenticationCode(expected, authenticating: Array(given.utf8), using: SymmetricKey(data: key))
    }
}

/// The relay callback, shared by the threads of one purge: each calls it
/// with its own node index, and each index has its own HTTP client.
private struct DisjointRelays: @unchecked Sendable {
    let call: (Int, UpstreamRequest) -> PurgeService.RelayResult
}

/// Collects an answer's body up to a limit.
final class SmallBody: UpstreamResponseSink {
    let limit: Int
    var bytes: [UInt8] = []

    init(limit: Int) { self.limit = limit }

    func receiveHead(_ head: UpstreamResponseHead) -> Bool { true }

    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count + chunk.count <= limit else { return false }
        bytes += chunk
        return true
    }
}

/// One thread of `herd purge-server`: its own HTTP client per node.
final class PurgeResponder: FastCGIResponder {
    let service: PurgeService
    let clients: [UpstreamClient]

    init(service: PurgeService, clients: [UpstreamClient]) {
        self.service = service
        self.clients = clients
    }

    func respond(to exchange: FastCGIExchange) {
        let clients = clients
        let answer = service.answer(params: exchange) { index, request in PurgeService.relay(request, with: clients[index]) }
        exchange.writeHead(status: answer.status, headers: [
            ("Content-Type", "application/json"), ("Cache-Control", "no-store"),
        ])
        _ = Array(answer.body.utf8).withUnsafeBytes { exchange.write($0) }
    }
}

/// `herd purge-server`: the purge service on a socket (systemd's
/// herd-purge.socket, or --bind), until SIGTERM.
public enum PurgeServer {
    public static func run(configuration: HerdConfiguration, logger: Logger) throws {
        ShutdownSignals.block()
        UpstreamClient.globalInit()
        guard let secret = try ConfigurationLoader.purgeSecret(configuration.purge) else {
            throw ConfigurationError(key: "purge.secret", message: "purge-server needs the secret purges must carry: "
                                     + "purge.secret_file (the package's /etc/herd/purge-secret), purge.secret or HERD_PURGE_SECRET")
        }
        guard let levels = CachePurge.parseLevels(configuration.purge.levels) else {
            throw ConfigurationError(key: "purge.levels", message: "not nginx's levels=")
        }
        let address = configuration.bindAddress
        let socket = try configuration.listeningSocket()
        let service = PurgeService(cache: CachePurge(directory: configuration.purge.cacheDir, levels: levels),
                                   workerSockets: configuration.purge.sockets,
                                   nodes: configuration.purge.nodes.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 },
                                   secret: secret, repeatAfter: configuration.purge.repeatAfter, logger: logger)
        let nodeCount = configuration.purge.nodes.count
        let server: FastCGIServer
        do {
            server = try FastCGIServer(socket: socket, configuration: WorkerProcess.serverConfiguration(
                configuration, address: address, threads: PurgeService.threads, metrics: nil, logger: logger)) {
                do {
                    let clients = try (0..<nodeCount).map { _ in try UpstreamClient(configuration: PurgeService.relayClientConfiguration()) }
                    return PurgeResponder(service: service, clients: clients)
                } catch {
                    logger.critical("cannot create an HTTP client for relays", metadata: ["error": "\(error)"])
                    return nil
                }
            }
            try server.start()
        } catch {
            socket.close()
            throw StartupError(description: "cannot start the purge service: \(error)")
        }
        logger.notice("herd purge-server listening", metadata: [
            "bind": .string(address.description + (socket.inherited ? " (from systemd)" : "")),
            "cache_dir": .string(configuration.purge.cacheDir),
            "workers": .string(configuration.purge.sockets.isEmpty ? "/run/herd/herd-*.sock" : configuration.purge.sockets.joined(separator: " ")),
            "nodes": .string(service.nodes.joined(separator: " ")),
        ])
        let signal = ShutdownSignals.wait()
        logger.notice("shutting down", metadata: ["signal": .string(signal)])
        _ = server.shutdown(timeout: 10)
    }
}
