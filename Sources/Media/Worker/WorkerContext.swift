import Foundation
import Remote
import Coalescing
import Imaging
import Logging
import System
import Settings

/// What every worker thread shares: immutable configuration, the metrics
/// registry, the root logger, the image pipeline and its CPU limiter, the
/// source cache and the single-flight tables.
public struct WorkerContext: Sendable {
    public let configuration: HerdConfiguration
    public let metrics: any MediaMetrics
    public let logger: Logger
    let pipeline: ImagePipeline
    let conversionLimiter: ConversionLimiter
    /// Source cache and one origin fetch per source at a time.
    let sources: SourceStore
    /// One conversion per (source, variant) at a time.
    let conversions: Coalescer<ImageConversion.Decision>
    /// One preview per (source, variant) at a time.
    let previewConversions: Coalescer<Result<ImagePipeline.Output, PreviewFailure>>
    /// How many requests may wait on one origin host at once.
    let originHosts: OriginHostLimiter
    /// How many may wait on remote hosts at once, all together: half the threads.
    let remoteFetches: OriginHostLimiter
    /// Where media bytes come from, asked in order (`SourceLocator`).
    let locators: [any SourceLocator]
    /// Redirects, blocked domains and remembered failures of remote fetches.
    let remote: RemotePolicy
    /// `upstream.root`, opened at start (nil when media come from the origin).
    let disk: DiskRoot?
    /// Previews: the image pipeline at the preview size and quality, and
    /// the video frame extractor.
    let previews: PreviewMaker
    /// The background optimizer (nil: off, or no place to keep its images).
    let optimizer: Optimizer?
    /// SVG to PNG for Misskey's media proxy (nil: off, or no rasterizer).
    let svgRaster: SVGRaster?

    /// Throws when `upstream.root` cannot be opened as a directory.
    public init(configuration: HerdConfiguration, metrics: any MediaMetrics, logger: Logger) throws(ConfigurationError) {
        if configuration.upstream.root.isEmpty {
            disk = nil
        } else {
            do {
                disk = try DiskRoot(configuration.upstream.root)
            } catch {
                throw ConfigurationError(key: "upstream.root", message: "cannot open \(configuration.upstream.root) as a directory (\(error))")
            }
        }
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.pipeline = ImagePipeline(configuration)
        let decodable = pipeline.limits.decodable
        metrics.decoders(enabled: Dictionary(uniqueKeysWithValues: ImageFormat.allCases.map { ($0.rawValue, decodable.contains($0)) }))
        self.conversionLimiter = ConversionLimiter(
            slots: configuration.effectiveImageWorkers, queueLimit: configuration.image.queue,
            memoryBudget: configuration.image.memoryBudget)
        self.sources = SourceStore(configuration: configuration.cache, metrics: metrics)
        self.conversions = Coalescer()
        self.previewConversions = Coalescer()
        self.originHosts = OriginHostLimiter(limit: configuration.effectiveMaxFetchesPerHost)
        self.remoteFetches = OriginHostLimiter(limit: max(1, configuration.effectiveThreads / 2))
        let signed: [(any SourceLocator)?] = [SignedRemoteSource(configuration: configuration), CamoSource(configuration: configuration),
                                              MisskeyProxySource(configuration: configuration)]
        self.locators = (signed + [DiskSource(configuration: configuration)]).compactMap { $0 } + [OriginSource(configuration: configuration)]
        self.remote = RemotePolicy(maxRedirects: configuration.remote.maxRedirects, blockedDomains: configuration.remote.blockedDomains,
                                   cacheTTL: configuration.remote.cacheTTL, failureTTL: configuration.remote.failureTTL, metrics: metrics)
        self.previews = PreviewMaker(configuration: configuration)
        let rasterizer = configuration.misskey.svgRasterizer
        svgRaster = configuration.misskey.enabled && !rasterizer.isEmpty && FileManager.default.isExecutableFile(atPath: rasterizer)
            ? SVGRaster(executable: rasterizer, timeout: configuration.image.timeout) : nil
        if configuration.optimizer.enabled, let directory = Self.optimizerDirectory(configuration) {
            do {
                optimizer = try Optimizer(configuration: configuration, pipeline: pipeline, limiter: conversionLimiter,
                                          metrics: metrics, logger: logger, directory: directory)
            } catch {
                // An optional feature: the worker serves without it.
                logger.error("optimizer off: cannot use its store", metadata: [
                    "optimizer.store_dir": .string(directory), "error": .string("\(error)")])
                optimizer = nil
            }
        } else {
            optimizer = nil
        }
    }

    /// `optimizer.store_dir` with a folder per worker (named after its
    /// `server.bind`: each worker counts and evicts only its own), else
    /// systemd's $CACHE_DIRECTORY (CacheDirectory=herd/%i, one per worker)
    /// with `optimized/` below it; nil when neither is there.
    static func optimizerDirectory(_ configuration: HerdConfiguration) -> String? {
        if !configuration.optimizer.storeDir.isEmpty {
            let worker = String(configuration.server.bind.map { $0.isLetter || $0.isNumber || $0 == "." || $0 == "-" ? $0 : "_" })
            return configuration.optimizer.storeDir + "/" + worker
        }
        guard let cache = ProcessInfo.processInfo.environment["CACHE_DIRECTORY"], cache.hasPrefix("/") else { return nil }
        // systemd may pass several, colon-separated: the first is this unit's.
        return String(cache.split(separator: ":").first ?? Substring(cache)) + "/optimized"
    }

    /// Starts background work (the optimizer's thread).
    public func startBackgroundWork() throws(SystemError) {
        try optimizer?.start()
    }

    /// Whether the optimizer runs, and where it keeps its images (for the start-up log line).
    public var optimizerDescription: String {
        guard let optimizer else { return configuration.optimizer.enabled ? "off (no store_dir, no $CACHE_DIRECTORY)" : "off" }
        return optimizer.store.directory.path
    }
}
