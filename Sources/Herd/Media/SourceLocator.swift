import Basics
import Upstream

/// Says where a media request's bytes come from. Each kind of source is a
/// locator in a file of its own: the HTTP origin (`OriginSource`); next,
/// signed remote URLs; later a disk root and object storage. The worker
/// asks its locators in order (`WorkerContext.locators`); the first that
/// claims the request says where to fetch it.
protocol SourceLocator: Sendable {
    /// The source of `request`, or nil when it is not this locator's kind.
    /// Throws when the request is this kind's but must not be fetched.
    func locate(_ request: MediaRequest) throws(Refusal) -> SourceLocation?
}

/// Where one request's bytes come from, and whether its fetch may be shared.
struct SourceLocation: Sendable {
    /// What to ask the source for.
    var request: UpstreamRequest
    /// One source, one key: the source cache and the single flight use it,
    /// and herd's ETags are made from it.
    var key: String
    /// Whether concurrent requests may share one fetch and the source
    /// cache. Requests the origin must answer itself (ranges, its own
    /// validators) and what is not an image (a video streams) may not.
    var shareable: Bool
    /// Who is asked: the configured origin (trusted), or a remote server
    /// on the open internet (behind the address guard, `RemoteFetcher`).
    var fetcher: Fetcher = .origin
    /// A preview is made from the whole source, whatever it is (a video's
    /// first frame): held in memory up to `image.max_source_bytes`.
    var preview: PreviewRequest? = nil

    /// `disk`: a file below `upstream.root` (`DiskAnswer`).
    enum Fetcher: Sendable { case origin, remote, disk }
}

/// What `/proxy/preview/…` asked for (`PreviewAnswer`).
struct PreviewRequest: Sendable {
    /// The plain `/proxy/…` path of the same URL: where a source that is
    /// not worth a preview is redirected.
    var originalPath: String
    /// `?static=true`: the first frame of an animated GIF.
    var staticFrame: Bool
}
