import Basics
import Remote
import FastCGI
import Logging
import Upstream
import System
import Settings
import Media

/// Runs one worker until SIGTERM or SIGINT: listen, serve, drain, exit.
public enum WorkerProcess {
    /// Returns when the worker has stopped; the caller exits with status 0.
    /// Throws `ConfigurationError` for what the admin set (exit 2, e.g. a
    /// socket path that cannot be bound) and `StartupError` for what the
    /// machine refused (exit 1: threads that could not be started).
    public static func run(configuration: HerdConfiguration, logger: Logger) throws {
        // Before any thread exists, so that every thread inherits the mask.
        ShutdownSignals.block()
        // Measured (make bench-convert's throughput run, 2 cores): peak RSS
        // 563 MiB with glibc's default arenas, 155 MiB with this.
        MallocTuning.apply(arenas: configuration.effectiveImageWorkers)
        UpstreamClient.globalInit()

        let address = configuration.bindAddress
        let socket = try configuration.listeningSocket()

        let metrics = HerdMetrics()
        let context = try WorkerContext(configuration: configuration, metrics: metrics, logger: logger)
        let upstreamConfiguration = UpstreamClient.Configuration(configuration.upstream)
        // A private bucket: every origin request signed (SigV4).
        let signer = configuration.upstream.s3AccessKey.isEmpty ? nil
            : SigV4(accessKey: configuration.upstream.s3AccessKey, secretKey: try ConfigurationLoader.s3Secret(configuration.upstream),
                    region: configuration.upstream.s3Region)
        let remoteConfiguration = RemoteClient.configuration(configuration.remoteLimits)
        let server: FastCGIServer
        do {
            server = try FastCGIServer(
                socket: socket,
                configuration: Self.serverConfiguration(configuration, address: address, metrics: metrics, logger: logger)
            ) {
                do {
                    // Two clients per thread: the origin's connections are never
                    // reused for a remote, nor a remote's for the origin.
                    let client = try UpstreamClient(configuration: upstreamConfiguration)
                    return RequestHandler(context: context, origin: signer.map { SignedFetcher(client: client, signer: $0) } ?? client,
                                          remote: try UpstreamClient(configuration: remoteConfiguration))
                } catch {
                    logger.critical("cannot create an upstream client", metadata: ["error": "\(error)"])
                    return nil
                }
            }
            try server.start()
            try context.startBackgroundWork()
        } catch {
            socket.close()
            throw StartupError(description: "cannot start the worker threads: \(error)")
        }

        logger.notice("herd listening", metadata: [
            "bind": .string(address.description + (socket.inherited ? " (from systemd)" : "")),
            "threads": .stringConvertible(configuration.effectiveThreads),
            "upstream": .string(configuration.upstream.url),
            "media_proxy": .string(configuration.mediaProxy.secretKeyBase.isEmpty ? "off" : "on"),
            "camo": .string(configuration.camo.key.isEmpty ? "off" : "on"),
            "optimizer": .string(context.optimizerDescription),
            // Whether the decoder children (ffmpeg, decode-heif) run without
            // a network: unprivileged user and network namespaces allowed.
            "children.network": .string(BoundedChild.isolatesNetwork ? "none" : "shared"),
        ])
        if !BoundedChild.isolatesNetwork {
            logger.warning("decoder children share the worker's network: `unshare --net --map-root-user` is refused here (RestrictNamespaces=, or unprivileged user namespaces off)")
        }
        if !configuration.mediaProxy.secretKeyBase.isEmpty, !configuration.mediaProxy.ffmpeg.isEmpty,
           !ThisProcess.canExecute(configuration.mediaProxy.ffmpeg) {
            logger.warning("ffmpeg not found: video previews redirect to the original",
                           metadata: ["media_proxy.ffmpeg": .string(configuration.mediaProxy.ffmpeg)])
        }

        let signal = ShutdownSignals.wait()
        logger.notice("shutting down", metadata: [
            "signal": .string(signal),
            "in_flight": .stringConvertible(server.requestsInFlight),
            "timeout_s": .string(formatSeconds(configuration.server.shutdownTimeout)),
        ])
        let abandoned = server.shutdown(timeout: configuration.server.shutdownTimeout)
        if abandoned > 0 {
            logger.warning("shutdown timeout reached; abandoning requests", metadata: ["in_flight": .stringConvertible(abandoned)])
        } else {
            logger.notice("stopped cleanly")
        }
    }
}

extension UpstreamClient.Configuration {
    init(_ upstream: HerdConfiguration.Upstream) {
        self.init(
            connectTimeoutMilliseconds: Int((upstream.connectTimeout * 1000).rounded(.up)),
            idleTimeoutSeconds: Int(upstream.timeout.rounded(.up)),
            transferTimeoutSeconds: Int(upstream.transferTimeout.rounded(.up)),
            minSpeedBytesPerSecond: upstream.minSpeed,
            maxBodyBytes: upstream.maxBodySize,
            userAgent: "herd/\(HerdVersion.string)",
            caFile: upstream.caFile.isEmpty ? nil : upstream.caFile
        )
    }
}

extension WorkerProcess {
    /// The FastCGI server's settings: threads, and for a TCP socket the
    /// peers it answers (`server.allowed_clients`); a refused peer is counted
    /// and logged (at most one line a second, the rest counted).
    static func serverConfiguration(_ configuration: HerdConfiguration, address: BindAddress, threads: Int? = nil,
                                    metrics: HerdMetrics?, logger: Logger) -> FastCGIServer.Configuration {
        let threads = threads ?? configuration.effectiveThreads
        guard case .tcp = address else { return .init(threads: threads) }
        let networks = configuration.server.allowedClients.compactMap { IPNetwork($0) }
        let lines = OncePerSecond()
        return .init(threads: threads,
                     admitPeer: { peer in networks.contains { $0.contains(peer) } },
                     refused: { peer in
                         metrics?.connectionRefused()
                         guard let skipped = lines.admit() else { return }
                         logger.warning("connection refused: the peer is not in server.allowed_clients", metadata: [
                             "peer": .string(peer?.description ?? "unknown (getpeername failed)"),
                             "refused_since_last_line": .stringConvertible(skipped),
                         ])
                     })
    }
}

/// The machine refused something the configuration is not to blame for.
public struct StartupError: Error, CustomStringConvertible, Sendable {
    public let description: String
}

extension HerdConfiguration {
    /// `[remote]`'s limits for the remote fetcher's client.
    public var remoteLimits: RemoteClient.Limits {
        RemoteClient.Limits(allowNetworks: remote.allowNetworks, connectTimeout: remote.connectTimeout, timeout: remote.timeout,
                            transferTimeout: remote.transferTimeout, minSpeed: upstream.minSpeed, maxBodySize: remote.maxBodySize,
                            caFile: remote.caFile.isEmpty ? nil : remote.caFile, userAgent: "herd/\(HerdVersion.string) (media proxy)")
    }
}
