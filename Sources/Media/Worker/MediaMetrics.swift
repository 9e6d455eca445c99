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
    /// The optimizer: images waiting, one image done (`kept`, `not_smaller`,
    /// `target_unreachable`, `failed_…`) with the bytes it saved and the CPU
    /// it took, the store's size.
    func optimizerQueue(depth: Int)
    func optimized(format: String, result: String, bytesSaved: Int, cpuSeconds: Double)
    func optimizerStore(bytes: Int, entries: Int)
    /// Which source formats are decoded (`image.decode`), set once at start.
    func decoders(enabled: [String: Bool])
    /// A first or an optimized answer served (`first`, `optimized`).
    func answerServed(_ kind: String)
    /// The Prometheus text exposition (`/metrics`).
    func exposition() -> [UInt8]
}
