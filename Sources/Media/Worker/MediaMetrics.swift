import Remote
import Upstream

/// What the media path reports: requests, origin fetches, conversions, the
/// source cache, previews, and (as `RemoteMetrics`) remote fetches. The
/// worker's Prometheus registry implements it (Herd's `HerdMetrics`); the
/// media path never sees the registry.
public protocol MediaMetrics: RemoteMetrics {
    func requestStarted()
    func requestFinished(route: String, status: Int, bytesSent: Int)
    func upstreamFinished(seconds: Double, bodyBytes: Int, newConnection: Bool, errorKind: UpstreamError.Kind?)
    func conversionFinished(format: String, result: String, seconds: Double?)
    func coalesced(kind: String)
    func sourceCache(hit: Bool)
    func sourceCacheSize(bytes: Int, entries: Int, evictions: Int)
    func previewMade(source: String, result: String, seconds: Double?)
    func videoFrameExtracted(result: String, seconds: Double)
    /// The Prometheus text exposition (`/metrics`).
    func exposition() -> [UInt8]
}
