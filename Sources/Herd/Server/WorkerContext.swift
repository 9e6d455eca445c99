import Imaging
import Logging

/// What every worker thread shares: immutable configuration, the metrics
/// registry, the root logger, the image pipeline and its CPU limiter.
public struct WorkerContext: Sendable {
    public let configuration: HerdConfiguration
    public let metrics: HerdMetrics
    public let logger: Logger
    let pipeline: ImagePipeline
    let conversionLimiter: ConversionLimiter

    public init(configuration: HerdConfiguration, metrics: HerdMetrics, logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
        self.pipeline = ImagePipeline(configuration)
        self.conversionLimiter = ConversionLimiter(
            slots: configuration.effectiveImageWorkers, queueLimit: configuration.image.queue)
    }
}
