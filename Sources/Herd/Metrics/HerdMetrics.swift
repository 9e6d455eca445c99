import Prometheus

/// The worker's Prometheus metrics, served on `/metrics`.
public final class HerdMetrics: Sendable {
    public let registry = PrometheusCollectorRegistry()

    private static var requests: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", metricName: "requests", unitName: "total",
        helpText: "Requests answered, by route and status.") }
    private static var upstreamErrors: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", subsystem: "upstream", metricName: "errors", unitName: "total",
        helpText: "Failed origin fetches, by kind (timeout, dns, connect, tls, body_too_large, protocol, client_gone, other).") }
    private let upstreamDuration: DurationHistogram
    private let upstreamBytes: Counter
    private let responseBytes: Counter
    private let inFlight: Gauge
    private let upstreamConnections: Counter
    private let conversionDuration: DurationHistogram

    public init() {
        upstreamDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "herd", subsystem: "upstream", metricName: "request_duration", unitName: "seconds",
                helpText: "Time from sending the request to the origin to the end of its response."),
            labels: [],
            buckets: [.milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100),
                      .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5),
                      .seconds(10), .seconds(30)])
        upstreamBytes = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "upstream", metricName: "received_bytes", unitName: "total",
            helpText: "Body bytes received from the origin."))
        responseBytes = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "herd", metricName: "response_bytes", unitName: "total",
            helpText: "Body bytes sent to nginx."))
        inFlight = registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "herd", metricName: "requests_in_flight", unitName: "",
            helpText: "Requests being answered right now."))
        upstreamConnections = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "upstream", metricName: "new_connections", unitName: "total",
            helpText: "Connections opened to the origin (the rest reused a kept-alive one)."))
        conversionDuration = registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(
                namespace: "herd", metricName: "conversion_duration", unitName: "seconds",
                helpText: "Time to decode, orient, fit and encode one image."),
            labels: [],
            buckets: [.milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
                      .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10)])
        for kind in ["timeout", "dns", "connect", "tls", "body_too_large", "headers_too_large", "protocol", "client_gone", "other"] {
            _ = registry.makeCounter(descriptor: Self.upstreamErrors, labels: [("kind", kind)])
        }
    }

    func requestStarted() { inFlight.increment() }

    func requestFinished(route: String, status: Int, bytesSent: Int) {
        inFlight.decrement()
        registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("status", String(status))]).increment()
        if bytesSent > 0 { responseBytes.increment(by: Int64(bytesSent)) }
    }

    func upstreamFinished(seconds: Double, bodyBytes: Int, newConnection: Bool, errorKind: String?) {
        upstreamDuration.record(.nanoseconds(Int64(seconds * 1e9)))
        if bodyBytes > 0 { upstreamBytes.increment(by: Int64(bodyBytes)) }
        if newConnection { upstreamConnections.increment() }
        if let errorKind { registry.makeCounter(descriptor: Self.upstreamErrors, labels: [("kind", errorKind)]).increment() }
    }

    private static var conversions: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", metricName: "conversions", unitName: "total",
        helpText: "Image responses by output format and result (converted, not_smaller, corrupt, busy, …).") }

    func conversionFinished(format: String, result: String, seconds: Double?) {
        registry.makeCounter(descriptor: Self.conversions, labels: [("format", format), ("result", result)]).increment()
        if let seconds, result == "converted" {
            conversionDuration.record(.nanoseconds(Int64(seconds * 1e9)))
        }
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
