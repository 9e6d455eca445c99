import Basics
import Upstream
import Settings

/// The HTTP origin (`upstream.url`): the media path as the client sent
/// it, appended to the origin's base URL. Claims every media route but
/// `/camo/` (and `/proxy/` when herd verifies it itself: `SignedRemoteSource`
/// is asked first).
struct OriginSource: SourceLocator {
    /// `upstream.url` without its trailing slashes.
    let base: String
    /// `cache.single_flight`: off, every request fetches on its own.
    let sharing: Bool
    /// A private bucket (`upstream.s3_access_key`): requests go signed with
    /// the bucket owner's rights, so the client's query is never passed on.
    /// S3 reads one as a subresource (`?acl`, `?tagging`, `?versionId=`,
    /// `?response-content-type=`…) that a public bucket would refuse an
    /// anonymous client; media paths need none.
    let pathOnly: Bool

    init(configuration: HerdConfiguration) {
        var base = configuration.upstream.url
        while base.hasSuffix("/") { base.removeLast() }
        self.base = base
        sharing = configuration.cache.singleFlight
        pathOnly = !configuration.upstream.s3AccessKey.isEmpty
    }

    func locate(_ request: MediaRequest) -> SourceLocation? {
        // A signed route whose key is not set is not the origin's.
        guard request.route != .camo else { return nil }
        let uri = pathOnly ? String(request.forwardURI.prefix { $0 != "?" }) : request.forwardURI
        let url = base + uri
        return SourceLocation(
            source: .origin(UpstreamRequest(url: url, headers: request.forwardedHeaders)),
            key: url,
            shareable: sharing && request.forwardedHeaders.isEmpty && Self.looksLikeImage(request.target.path))
    }

    /// Whether a path names an image by its extension. Only decides whether
    /// to share the fetch (a video streams and is not shared); what is
    /// decoded is decided from the bytes, never from the name.
    static func looksLikeImage(_ path: Substring) -> Bool {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return false }
        switch path[path.index(after: dot)...].lowercased() {
        case "jpg", "jpeg", "png", "gif", "webp", "avif", "jfif", "pjpeg": return true
        default: return false
        }
    }
}
