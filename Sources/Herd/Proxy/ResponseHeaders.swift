import Basics
import Imaging
import Negotiation
import Upstream

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
        var headers: [(name: String, value: String)] = [("Vary", mergedVary(originVary))]
        if !configuration.server.viaHeader.isEmpty {
            headers.append(("Via", "1.1 \(configuration.server.viaHeader)"))
        }
        headers.append(("X-Content-Type-Options", "nosniff"))
        headers.append(("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox"))
        return headers
    }

    /// "Accept" added to the origin's Vary once, case-insensitively; one header line.
    static func mergedVary(_ origin: String?) -> String {
        var tokens: [String] = []
        for token in (origin ?? "").split(separator: ",") {
            let name = token.trimmingHTTPWhitespace()
            if name == "*" { return "*" }
            if !name.isEmpty, !tokens.contains(where: { $0.lowercased() == name.lowercased() }) { tokens.append(name) }
        }
        if !tokens.contains(where: { $0.lowercased() == "accept" }) { tokens.append("Accept") }
        return tokens.joined(separator: ", ")
    }

    /// The origin's headers after the header policy, plus `common`. With
    /// `replacingRepresentation`, the headers that describe the body are
    /// left out, because herd is about to send a body of its own.
    static func fromOrigin(_ head: UpstreamResponseHead, configuration: HerdConfiguration,
                           replacingRepresentation: Bool = false) -> [(name: String, value: String)] {
        let representation: Set<String> = ["content-type", "etag", "cache-control", "expires", "content-range", "accept-ranges"]
        var originVia: String?
        var originVary: String?
        var headers = HeaderPolicy.responseHeaders(from: head.headers, preserveAll: configuration.server.preserveUpstreamHeaders)
            .filter { header in
                switch header.name.lowercased() {
                case "via": originVia = header.value; return false
                case "vary": originVary = (originVary.map { $0 + ", " } ?? "") + header.value; return false
                case "x-content-type-options", "content-security-policy": return false
                case let name where replacingRepresentation && representation.contains(name): return false
                default: return true
                }
            }
        var shared = common(configuration: configuration, varyWith: originVary)
        if let originVia, let index = shared.firstIndex(where: { $0.name == "Via" }) {
            shared[index].value = originVia + ", " + shared[index].value
        }
        headers += shared
        headers.append(("X-Herd-Source", "origin"))
        return headers
    }

    /// For responses passed through as they came: an error never keeps a
    /// long lifetime; a success without caching headers gets `cache.ttl`.
    static func applyPassthroughCaching(status: Int, headers: inout [(name: String, value: String)], configuration: HerdConfiguration) {
        let lifetime: Set<String> = ["cache-control", "expires"]
        let hasLifetime = headers.contains { lifetime.contains($0.name.lowercased()) }
        if status >= 400 {
            headers.removeAll { lifetime.contains($0.name.lowercased()) }
            headers.append(("Cache-Control", errorCacheControl(ttl: configuration.cache.errorTTL)))
        } else if !hasLifetime, status != 304 {
            headers.append(("Cache-Control", "public, max-age=\(configuration.cache.ttl)"))
        }
    }

    /// Client lifetime of an image herd serves whole: `cache.ttl`, plus
    /// `immutable` when the origin said so. An origin that marked the file
    /// private or no-store is obeyed.
    static func mediaCacheControl(origin head: UpstreamResponseHead, configuration: HerdConfiguration) -> String {
        let originValue = head.value(of: "Cache-Control") ?? ""
        let lowered = originValue.lowercased()
        if lowered.contains("private") || lowered.contains("no-store") { return originValue }
        return "public, max-age=\(configuration.cache.ttl)" + (lowered.contains("immutable") ? ", immutable" : "")
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
