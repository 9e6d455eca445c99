import Logging

/// What every accept thread shares: immutable configuration, the metrics
/// registry and the root logger.
public struct WorkerContext: Sendable {
    public let configuration: HerdConfiguration
    public let metrics: HerdMetrics
    public let logger: Logger

    public init(configuration: HerdConfiguration, metrics: HerdMetrics, logger: Logger) {
        self.configuration = configuration
        self.metrics = metrics
        self.logger = logger
    }
}
