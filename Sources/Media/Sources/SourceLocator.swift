import Basics
import Upstream

/// Says where a media request's bytes come from. Each kind of source is a
/// locator in a file of its own: the HTTP origin (`OriginSource`); next,
/// signed remote URLs, go-camo's, a disk root (`DiskSource`). The worker
/// asks its locators in order (`WorkerContext.locators`); the first that
/// claims the request says where to fetch it.
protocol SourceLocator: Sendable {
    /// The source of `request`, or nil when it is not this locator's kind.
    /// Throws when the request is this kind's but must not be fetched.
    func locate(_ request: MediaRequest) throws(Refusal) -> SourceLocation?
}

/// Where a request's bytes come from: carried as a type from the locator to
/// the reply (its `X-Herd-Source`), never as a header or inside a URL.
enum Source: Sendable {
    /// The configured origin (trusted): what to ask it for.
    case origin(UpstreamRequest)
    /// A server on the open internet, behind the address guard (`RemoteFetcher`).
    case remote(UpstreamRequest)
    /// A file below `upstream.root` (`DiskAnswer`): its path below the root,
    /// percent-decoded.
    case disk(path: String)

    /// Which kind, as `X-Herd-Source` names it.
    enum Kind: String, Sendable { case origin, remote, disk }

    var kind: Kind {
        switch self {
        case .origin: .origin
        case .remote: .remote
        case .disk: .disk
        }
    }
}

/// Where one request's bytes come from, and whether its fetch may be shared.
struct SourceLocation: Sendable {
    var source: Source
    /// One source, one key: the source cache and the single flight use it,
    /// and herd's ETags are made from it.
    var key: String
    /// Whether concurrent requests may share one fetch and the source
    /// cache. Requests the origin must answer itself (ranges, its own
    /// validators) and what is not an image (a video streams) may not.
    var shareable: Bool
    /// A preview is made from the whole source, whatever it is (a video's
    /// first frame): held in memory up to `image.max_source_bytes`.
    var preview: PreviewRequest? = nil
    /// A Misskey media-proxy request (`MisskeyAnswer`): also made from
    /// the whole source.
    var misskey: MisskeyRequest? = nil

    /// Whether the whole source is held whatever it is (not streamed).
    var holdsEverything: Bool { preview != nil || misskey != nil }

    /// The HTTP request of a source fetched over HTTP. A disk source is
    /// answered by `DiskAnswer`, never fetched.
    var httpRequest: UpstreamRequest {
        switch source {
        case .origin(let request), .remote(let request): request
        case .disk(let path): preconditionFailure("the disk source \(path) is not fetched over HTTP")
        }
    }
}

/// What `/proxy/preview/…` asked for (`PreviewAnswer`).
struct PreviewRequest: Sendable {
    /// The plain `/proxy/…` path of the same URL: where a source that is
    /// not worth a preview is redirected.
    var originalPath: String
    /// `?static=true`: the first frame of an animated GIF.
    var staticFrame: Bool
}
