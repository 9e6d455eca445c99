import Basics
import Upstream
import Settings

/// The head herd sends for an origin response it streams through as it
/// came (a video, an SVG, an origin error page, a file too big to convert).
enum PassthroughReply {
    static func head(for head: UpstreamResponseHead, from source: Source.Kind, configuration: HerdConfiguration,
                     lifetimes: MediaRequest.Lifetimes = .init()) -> ReplyHead {
        var headers = ResponseHeaders.fromOrigin(head, from: source, configuration: configuration)
        ResponseHeaders.applyPassthroughCaching(status: head.status, headers: &headers, configuration: configuration,
                                                lifetimes: lifetimes)
        if head.closeDelimited {
            // Ends when the connection closes: a cut cannot be told from the end.
            headers.removeAll { $0.name.caseInsensitiveEquals("Cache-Control") || $0.name.caseInsensitiveEquals("Expires") }
            headers.append(("Cache-Control", ResponseHeaders.errorCacheControl(ttl: configuration.cache.errorTTL)))
        }
        // 1xx, 204 and 304 have no body, whatever length the origin claims.
        if let length = head.contentLength, head.status >= 200, head.status != 204, head.status != 304 {
            headers.append(("Content-Length", String(length)))
        }
        if head.status == 200 { headers.append(("X-Herd-Variant", "orig")) }
        return ReplyHead(status: head.status, headers: headers, served: "orig")
    }
}
