import Basics
import Prometheus
import Remote
import Upstream
import System
import Media

/// The worker's Prometheus metrics, served on `/metrics`.
public final class HerdMetrics: MediaMetrics {
    public let registry = PrometheusCollectorRegistry()

    private static var requests: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", metricName: "requests", unitName: "total",
        helpText: "Requests answered, by route and status.") }
    private static var upstreamErrors: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", subsystem: "upstream", metricName: "errors", unitName: "total",
        helpText: "Failed origin fetches, by kind (\((UpstreamError.Kind.transport + UpstreamError.Kind.remote).map(\.rawValue).joined(separator: ", ")))."
    ) }
    private let upstreamDuration: DurationHistogram
    private let upstreamBytes: Counter
    private let responseBytes: Counter
    private let inFlight: Gauge
    private let upstreamConnections: Counter
    private let conversionDuration: DurationHistogram
    private let sourceCacheHits: Counter
    private let sourceCacheMisses: Counter
    private let sourceCacheBytes: Gauge
    private let sourceCacheBytesPeak: Gauge
    private let sourceCacheEntries: Gauge
    private let sourceCacheEvictions: Gauge
    private let peakLock = Locked(0)
    private let previewDuration: DurationHistogram
    private let videoFrameDuration: DurationHistogram

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
        // Conversions and previews share one set of buckets.
        conversionDuration = Self.secondsHistogram(registry, "conversion_duration",
                                                   "Time to decode, orient, fit and encode one image.", Self.conversionBuckets)
        previewDuration = Self.secondsHistogram(registry, "preview_duration",
                                                "Time to make one preview (a video's includes its first frame).", Self.conversionBuckets)
        videoFrameDuration = Self.secondsHistogram(registry, "video_frame_duration",
                                                   "Time ffmpeg took for one video's first frame, process start to exit.",
                                                   [.milliseconds(25)] + Self.conversionBuckets.dropFirst(2) + [.seconds(30)])
        let registry = self.registry
        func gauge(_ name: String, _ help: String) -> Gauge {
            registry.makeGauge(descriptor: MetricNameDescriptor(namespace: "herd", subsystem: "source_cache", metricName: name, unitName: "", helpText: help))
        }
        sourceCacheHits = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "source_cache", metricName: "hits", unitName: "total",
            helpText: "Media requests answered from the in-memory source cache."))
        sourceCacheMisses = registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "source_cache", metricName: "misses", unitName: "total",
            helpText: "Media requests the source cache could not answer (missing or stale)."))
        sourceCacheBytes = gauge("bytes", "Bytes held by the source cache (bounded by cache.max_bytes).")
        sourceCacheBytesPeak = gauge("bytes_peak", "The most bytes the source cache has held since start.")
        sourceCacheEntries = gauge("entries", "Entries in the source cache.")
        sourceCacheEvictions = gauge("evictions", "Entries evicted to stay within the bounds, since start.")
        for kind in ["fetch", "conversion"] {
            _ = registry.makeCounter(descriptor: Self.coalescedWaiters, labels: [("kind", kind)])
        }
        for kind in (UpstreamError.Kind.transport + UpstreamError.Kind.remote).map(\.rawValue) {
            _ = registry.makeCounter(descriptor: Self.upstreamErrors, labels: [("kind", kind)])
        }
    }

    private static let conversionBuckets: [Duration] = [
        .milliseconds(10), .milliseconds(25), .milliseconds(50), .milliseconds(100), .milliseconds(250),
        .milliseconds(500), .seconds(1), .milliseconds(2500), .seconds(5), .seconds(10),
    ]

    /// `herd_<name>_seconds`, unlabelled.
    private static func secondsHistogram(_ registry: PrometheusCollectorRegistry, _ name: String, _ help: String,
                                         _ buckets: [Duration]) -> DurationHistogram {
        registry.makeDurationHistogram(
            descriptor: MetricNameDescriptor(namespace: "herd", metricName: name, unitName: "seconds", helpText: help),
            labels: [], buckets: buckets)
    }

    public func requestStarted() { inFlight.increment() }

    /// Counters by (route, status), so the hot path skips building label
    /// lists and looking them up in the registry.
    private let requestCounters = Locked<[String: Counter]>([:])

    public func requestFinished(route: String, status: Int, bytesSent: Int) {
        inFlight.decrement()
        let key = "\(route) \(status)"
        let counter = requestCounters.withLock { counters in
            if let counter = counters[key] { return counter }
            let counter = registry.makeCounter(descriptor: Self.requests, labels: [("route", route), ("status", String(status))])
            counters[key] = counter
            return counter
        }
        counter.increment()
        if bytesSent > 0 { responseBytes.increment(by: Int64(bytesSent)) }
    }

    public func upstreamFinished(seconds: Double, bodyBytes: Int, newConnection: Bool, errorKind: UpstreamError.Kind?) {
        upstreamDuration.record(.nanoseconds(Int64(seconds * 1e9)))
        if bodyBytes > 0 { upstreamBytes.increment(by: Int64(bodyBytes)) }
        if newConnection { upstreamConnections.increment() }
        if let errorKind { registry.makeCounter(descriptor: Self.upstreamErrors, labels: [("kind", errorKind.rawValue)]).increment() }
    }

    private static var conversions: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", metricName: "conversions", unitName: "total",
        helpText: "Image responses by output format and result (converted, not_smaller, corrupt, busy, …).") }

    public func conversionFinished(format: String, result: String, seconds: Double?) {
        registry.makeCounter(descriptor: Self.conversions, labels: [("format", format), ("result", result)]).increment()
        if let seconds, result == "converted" {
            conversionDuration.record(.nanoseconds(Int64(seconds * 1e9)))
        }
    }

    private static var coalescedWaiters: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", metricName: "coalesced_waiters", unitName: "total",
        helpText: "Requests that shared another request's origin fetch or conversion, by kind (fetch, conversion).") }

    public func coalesced(kind: String) {
        registry.makeCounter(descriptor: Self.coalescedWaiters, labels: [("kind", kind)]).increment()
    }

    public func sourceCache(hit: Bool) {
        (hit ? sourceCacheHits : sourceCacheMisses).increment()
    }

    public func sourceCacheSize(bytes: Int, entries: Int, evictions: Int) {
        sourceCacheBytes.set(Int64(bytes))
        sourceCacheEntries.set(Int64(entries))
        sourceCacheEvictions.set(Int64(evictions))
        peakLock.withLock { peak in
            if bytes > peak {
                peak = bytes
                sourceCacheBytesPeak.set(Int64(bytes))
            }
        }
    }

    // MARK: Remote media (signed URLs)

    private static var remoteFetches: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", subsystem: "remote", metricName: "fetches", unitName: "total",
        helpText: "Fetches of remote URLs, by outcome (status_2xx…status_5xx, or the error kind).") }
    private static var remoteRefusals: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", subsystem: "remote", metricName: "refusals", unitName: "total",
        helpText: "Signed remote URLs refused, by reason (bad_signature, malformed_signed_url, wrong_filename, refused_address with the address class, refused_url, too_many_redirects, failed_recently: answered from the failure memory).") }
    private static var previews: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", metricName: "previews", unitName: "total",
        helpText: "Previews (/proxy/preview/), by source kind (image, gif_static, video) and result (made, or why not).") }
    private static var videoFrames: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", metricName: "video_frames", unitName: "total",
        helpText: "First frames extracted from videos by ffmpeg, by result (ok, failed).") }

    // MARK: The optimizer

    public func optimizerQueue(depth: Int) {
        registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "optimizer", metricName: "queue_depth", unitName: "",
            helpText: "Images waiting to be optimized.")).set(Double(depth))
    }

    public func optimized(format: String, result: String, bytesSaved: Int, cpuSeconds: Double) {
        registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "optimizer", metricName: "images", unitName: "total",
            helpText: "Images the optimizer finished, by output format and result (kept, not_smaller, target_unreachable, failed_…)."),
                             labels: [("format", format), ("result", result)]).increment()
        registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "optimizer", metricName: "saved_bytes", unitName: "total",
            helpText: "Bytes the optimized answers kept are smaller than their first answers (once per image).")).increment(by: Int64(bytesSaved))
        registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "optimizer", metricName: "cpu_seconds", unitName: "total",
            helpText: "CPU time the optimizer's thread spent.")).increment(by: cpuSeconds)
    }

    public func decoders(enabled: [String: Bool]) {
        let descriptor = MetricNameDescriptor(
            namespace: "herd", subsystem: "decoder", metricName: "enabled", unitName: "",
            helpText: "1 for each source format herd decodes, 0 for those image.decode turns off.")
        for (format, on) in enabled {
            registry.makeGauge(descriptor: descriptor, labels: [("format", format)]).set(on ? 1.0 : 0.0)
        }
    }

    public func optimizerStore(bytes: Int, entries: Int) {
        registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "optimizer", metricName: "store_bytes", unitName: "",
            helpText: "Bytes of optimized images on disk (bounded by optimizer.store_max_bytes).")).set(Double(bytes))
        registry.makeGauge(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "optimizer", metricName: "store_entries", unitName: "",
            helpText: "Optimized images on disk.")).set(Double(entries))
    }

    public func answerServed(_ kind: String) {
        registry.makeCounter(descriptor: MetricNameDescriptor(
            namespace: "herd", subsystem: "optimizer", metricName: "answers", unitName: "total",
            helpText: "Converted answers served, first (may still be optimized) or optimized."), labels: [("answer", kind)]).increment()
    }

    /// A peer outside `server.allowed_clients` connected and was closed unread.
    public func connectionRefused() {
        registry.makeCounter(descriptor: Self.refusedConnections).increment()
    }

    private static var refusedConnections: MetricNameDescriptor { MetricNameDescriptor(
        namespace: "herd", metricName: "refused_connections", unitName: "total",
        helpText: "Connections to a TCP-bound worker from a peer outside server.allowed_clients, closed before any record was read.") }

    public func remoteFetched(outcome: String) {
        registry.makeCounter(descriptor: Self.remoteFetches, labels: [("outcome", outcome)]).increment()
    }

    public func remoteRefused(reason: String, addressClass: String = "") {
        registry.makeCounter(descriptor: Self.remoteRefusals, labels: [("reason", reason), ("class", addressClass)]).increment()
    }

    public func previewMade(source: String, result: String, seconds: Double?) {
        registry.makeCounter(descriptor: Self.previews, labels: [("source", source), ("result", result)]).increment()
        if let seconds { previewDuration.record(.nanoseconds(Int64(seconds * 1e9))) }
    }

    public func videoFrameExtracted(result: String, seconds: Double) {
        registry.makeCounter(descriptor: Self.videoFrames, labels: [("result", result)]).increment()
        videoFrameDuration.record(.nanoseconds(Int64(seconds * 1e9)))
    }

    /// The Prometheus text exposition.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }
}
