import Basics
import Imaging
import Negotiation
import Upstream
import Settings

/// The headers of what herd sends to nginx, in one place.
enum ResponseHeaders {
    /// Errors never get a long lifetime.
    static func errorCacheControl(ttl: Int) -> String {
        ttl > 0 ? "public, max-age=\(ttl)" : "no-store"
    }

    /// Headers on every media-route response, made up or passed through:
    /// `Vary: Accept` (the body depends on it wherever conversion could
    /// apply), our `Via`, and two that keep a media host from being turned
    /// into a script host: no content sniffing, and a sandboxing CSP for
    /// anything a browser opens directly (an SVG or HTML upload).
    static func common(configuration: HerdConfiguration, varyWith originVary: String?) -> [(name: String, value: String)] {
        var headers: HTTPHeaders = [("Vary", mergedVary(originVary))] + via(configuration)
        headers.append(("X-Content-Type-Options", "nosniff"))
        headers.append(("Content-Security-Policy", contentSecurityPolicy))
        return headers
    }

    static let contentSecurityPolicy = "default-src 'none'; style-src 'unsafe-inline'; sandbox"

    /// The headers of an error answer, made from the failure alone: a
    /// failure that may pass soon (`retryAfter`) is never stored, the rest
    /// live for `cache.error_ttl` unless the failure names its own lifetime.
    static func failure(_ failure: any HTTPFailure, configuration: HerdConfiguration, onMediaRoute: Bool) -> HTTPHeaders {
        let ownLifetime = failure.headers.contains { $0.name.caseInsensitiveEquals("Cache-Control") }
        var headers: HTTPHeaders = [("Content-Type", "text/plain; charset=utf-8")]
        if !ownLifetime {
            headers.append(("Cache-Control", failure.retryAfter == nil ? errorCacheControl(ttl: configuration.cache.errorTTL) : "no-store"))
        }
        headers.append(("X-Herd-Error", failure.reason))
        if let retryAfter = failure.retryAfter { headers.append(("Retry-After", String(retryAfter))) }
        headers += failure.headers
        if onMediaRoute {
            headers += common(configuration: configuration, varyWith: nil)
        } else {
            // A refused URI is nobody's media, but the host serves it: the
            // same protection, without Vary.
            headers += via(configuration)
            headers.append(("X-Content-Type-Options", "nosniff"))
            headers.append(("Content-Security-Policy", contentSecurityPolicy))
        }
        return headers
    }

    /// Our `Via`, when `server.via_header` names one.
    static func via(_ configuration: HerdConfiguration) -> HTTPHeaders {
        configuration.server.viaHeader.isEmpty ? [] : [("Via", "1.1 \(configuration.server.viaHeader)")]
    }

    /// "Accept" added to the origin's Vary once, case-insensitively; one
    /// header line. An origin's `*` is dropped: herd sends the origin no
    /// request header it could vary on but validators and ranges, so herd's
    /// answer varies on Accept (and what the origin named), never on "anything".
    static func mergedVary(_ origin: String?) -> String {
        var tokens: [String] = []
        for token in (origin ?? "").split(separator: ",") {
            let name = token.trimmingHTTPWhitespace()
            if name == "*" { continue }
            if !name.isEmpty, !tokens.contains(where: { $0.lowercased() == name.lowercased() }) { tokens.append(name) }
        }
        if !tokens.contains(where: { $0.lowercased() == "accept" }) { tokens.append("Accept") }
        return tokens.joined(separator: ", ")
    }

    /// The origin's headers after the header policy, plus `common` and where
    /// the bytes came from (`X-Herd-Source`, from the source's type). With
    /// `replacingRepresentation`, the headers that describe the body are
    /// left out, because herd is about to send a body of its own.
    static func fromOrigin(_ head: UpstreamResponseHead, from source: Source.Kind, configuration: HerdConfiguration,
                           replacingRepresentation: Bool = false) -> [(name: String, value: String)] {
        let preserveAll = configuration.server.preserveUpstreamHeaders
        let dropped = HeaderPolicy.namedInConnection(head.headers)
        var originVia: String?
        var originVary: String?
        var headers: HTTPHeaders = []
        headers.reserveCapacity(head.headers.count + 8)
        for header in head.headers {
            let name = header.name.lowercased()
            guard HeaderPolicy.passes(lowercasedName: name, preserveAll: preserveAll, dropped: dropped) else { continue }
            switch name {
            case "via": originVia = header.value
            case "vary": originVary = (originVary.map { $0 + ", " } ?? "") + header.value
            case "x-content-type-options", "content-security-policy": continue
            case _ where replacingRepresentation && representation.contains(name): continue
            default: headers.append(header)
            }
        }
        var shared = common(configuration: configuration, varyWith: originVary)
        if let originVia, let index = shared.firstIndex(where: { $0.name == "Via" }) {
            shared[index].value = originVia + ", " + shared[index].value
        }
        headers += shared
        headers.append(("X-Herd-Source", source.rawValue))
        return withinHeaderBudget(headers)
    }

    /// What describes the origin's body (its type, encoding, digest, name,
    /// entity tag, lifetime): none of it is true of a body herd makes or
    /// re-frames. `age` goes with the lifetime herd replaces. (Last-Modified
    /// stays: it dates the source, and nginx revalidates with it.)
    private static let representation: Set<String> = [
        "content-type", "content-encoding", "content-language", "content-location", "content-disposition",
        "content-md5", "digest", "content-digest", "repr-digest", "etag", "cache-control",
        "expires", "age", "content-range", "accept-ranges",
    ]

    /// Bytes of headers herd passes on: nginx reads the whole FastCGI head
    /// into `fastcgi_buffer_size` (16k in server/media-fastcgi.conf) and
    /// answers 502 for a larger one. Past this budget the origin's headers
    /// that caching, ranges and rendering do not need are dropped.
    static let headerBudget = 8 << 10

    static func withinHeaderBudget(_ headers: [(name: String, value: String)]) -> [(name: String, value: String)] {
        var total = headers.reduce(0) { $0 + $1.name.utf8.count + $1.value.utf8.count + 4 }
        guard total > headerBudget else { return headers }
        var kept = headers
        for index in kept.indices.reversed() where total > headerBudget {
            let name = kept[index].name.lowercased()
            guard !HeaderPolicy.essential.contains(name), !name.hasPrefix("x-herd-"), !ownHeaders.contains(name) else { continue }
            total -= kept[index].name.utf8.count + kept[index].value.utf8.count + 4
            kept.remove(at: index)
        }
        // Essential ones that are still too large (a 10 KB ETag) go too.
        return kept.filter { $0.name.utf8.count + $0.value.utf8.count <= headerBudget / 2 }
    }

    private static let ownHeaders: Set<String> = ["vary", "via", "x-content-type-options", "content-security-policy"]

    /// The lifetime nginx itself should use, should a location ignore the
    /// Cache-Control: `X-Accel-Expires` 0 for a private or no-store answer,
    /// the error lifetime for a short-lived one. nginx hides the header from
    /// clients.
    static func addNginxLifetime(_ headers: inout [(name: String, value: String)], configuration: HerdConfiguration) {
        guard let cacheControl = headers.last(where: { $0.name.caseInsensitiveEquals("Cache-Control") })?.value else { return }
        if CacheControl.forbidsSharedCache(cacheControl) {
            headers.append(("X-Accel-Expires", "0"))
        } else if cacheControl == errorCacheControl(ttl: configuration.cache.errorTTL) {
            headers.append(("X-Accel-Expires", String(configuration.cache.errorTTL)))
        }
    }

    /// The origin's freshness lifetime in seconds (`s-maxage`, else
    /// `max-age`; `no-cache` is 0), nil when it gave none.
    static func originMaxAge(_ head: UpstreamResponseHead) -> Int? {
        guard let value = head.value(of: "Cache-Control")?.lowercased() else { return nil }
        var maxAge: Int?
        var sharedMaxAge: Int?
        for directive in value.split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1).map { $0.trimmingHTTPWhitespace() }
            switch parts[0] {
            case "no-cache" where parts.count == 1: return 0
            case "max-age" where parts.count == 2: maxAge = Int(parts[1].filter { $0 != "\"" }).map { max(0, $0) } ?? 0
            case "s-maxage" where parts.count == 2: sharedMaxAge = Int(parts[1].filter { $0 != "\"" }).map { max(0, $0) } ?? 0
            default: break
            }
        }
        return sharedMaxAge ?? maxAge
    }

    /// For responses passed through as they came: an error never keeps a
    /// long lifetime (a 404/410 the location's, else `cache.error_ttl`); a
    /// redirect without one of its own gets a short one (the location's,
    /// else `cache.redirect_ttl`; none at all where that is 0); a success
    /// without caching headers gets the location's, else `cache.ttl`.
    static func applyPassthroughCaching(status: Int, headers: inout [(name: String, value: String)], configuration: HerdConfiguration,
                                        lifetimes: MediaRequest.Lifetimes = .init()) {
        let lifetime: Set<String> = ["cache-control", "expires"]
        let hasLifetime = headers.contains { lifetime.contains($0.name.lowercased()) }
        if status >= 400 {
            headers.removeAll { lifetime.contains($0.name.lowercased()) }
            let ttl = status == 404 || status == 410 ? lifetimes.notFound ?? configuration.cache.errorTTL : configuration.cache.errorTTL
            headers.append(("Cache-Control", errorCacheControl(ttl: ttl)))
        } else if (300...399).contains(status), status != 304 {
            // A redirect is not the file: short-lived when it does not say,
            // never kept where the location says 0 (a presigned URL expires).
            let ttl = lifetimes.redirect ?? configuration.cache.redirectTTL
            if ttl == 0 {
                headers.removeAll { lifetime.contains($0.name.lowercased()) }
                headers.append(("Cache-Control", "no-store"))
            } else if !hasLifetime {
                headers.append(("Cache-Control", "public, max-age=\(ttl)"))
            }
        } else if !hasLifetime, status != 304 {
            headers.append(("Cache-Control", "public, max-age=\(lifetimes.success ?? configuration.cache.ttl)"))
        } else if status == 200, let ttl = lifetimes.success {
            // The origin's own lifetime, no longer than the location's (a
            // bucket's ten-year objects must not outlive a takedown there).
            let origin = UpstreamResponseHead(status: status, headers: headers)
            guard !CacheControl.forbidsSharedCache(origin.value(of: "Cache-Control")) else { return }
            headers.removeAll { lifetime.contains($0.name.lowercased()) }
            headers.append(("Cache-Control", mediaCacheControl(origin: origin, configuration: configuration, ttl: ttl)))
        }
    }

    /// Client lifetime of an image herd serves whole: `ttl` (the location's,
    /// else `cache.ttl`), or the
    /// origin's own lifetime when shorter (a conversion must not outlive the
    /// source it was made from), plus `immutable` when the origin said so.
    /// An origin that marked the file private or no-store is obeyed.
    static func mediaCacheControl(origin head: UpstreamResponseHead, configuration: HerdConfiguration, ttl: Int? = nil) -> String {
        let originValue = head.value(of: "Cache-Control") ?? ""
        guard let lifetime = mediaLifetime(origin: head, configuration: configuration, ttl: ttl) else { return originValue }
        return "public, max-age=\(lifetime)" + (originValue.containsLowercaseASCII("immutable") && lifetime > 0 ? ", immutable" : "")
    }

    /// The shared lifetime `mediaCacheControl` gives, in seconds; nil when
    /// the origin forbids shared caches (private, no-store).
    static func mediaLifetime(origin head: UpstreamResponseHead, configuration: HerdConfiguration, ttl: Int? = nil) -> Int? {
        if CacheControl.forbidsSharedCache(head.value(of: "Cache-Control") ?? "") { return nil }
        let ttl = ttl ?? configuration.cache.ttl
        return min(ttl, originMaxAge(head) ?? ttl)
    }

    // MARK: ETags

    /// `h1-<hash>`: one per (source, source version, requested variant,
    /// encoder settings). The pipeline is deterministic, so this names the
    /// served bytes; the suffix (`-avif`, `-orig`, …) says which they are.
    ///
    /// The source is its URL and the version its bytes (length and digest),
    /// never the origin's ETag: ETags are only unique per URL, and common
    /// ones (nginx's `mtime-size`) collide across files. Keyed on the ETag,
    /// two images would share one conversion and each other's 304s.
    static func etagBase(sourceKey: String, length: Int, digest: UInt64, variant: Variant, settings: EncoderSettings) -> String {
        let identity = "\(sourceKey)|b\(length)-\(SourceHash.hex(digest))|\(variant.rawValue)|\(settings.version)"
        return "h1-" + SourceHash.hex(SourceHash.fnv1a(identity))
    }

    /// The entity tag in `If-None-Match` that names this source/variant, if any.
    static func matchingETag(_ ifNoneMatch: String, base: String) -> String? {
        for candidate in ifNoneMatch.split(separator: ",") {
            var tag = candidate.trimmingHTTPWhitespace()
            if tag.hasPrefix("W/") { tag.removeFirst(2) }
            if tag.hasPrefix("\"\(base)-") { return tag }
        }
        return nil
    }

    /// Our own entity tags start like this; the client's copies of them are
    /// never sent to the origin, which would not know them.
    static func isHerdETag(_ value: String) -> Bool {
        value.contains("\"h1-")
    }
}
