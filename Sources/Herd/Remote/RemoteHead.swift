import Basics
import Remote
import Upstream

/// A remote server's response head reduced to what a client may see, at
/// the boundary: everything after (the source cache, conversions, the
/// passthrough) treats it like the origin's head. A remote is anyone on the
/// internet, so its headers are allowed in by name, not filtered out:
///
/// - kept: the type, validators, length, ranges, encoding;
/// - made here: `Content-Disposition` (`inline` for images, audio and
///   video; `attachment` for everything else, so an HTML page or an SVG
///   with script is never rendered from the media host) with a filename of
///   safe characters, and `Cache-Control` (`remote.cache_ttl`, 14 days like
///   Akkoma, for a success; a remote's `private` or `no-store` is obeyed);
/// - dropped: everything else (cookies, CORS, CSP, Location, Link, …).
///   `Content-Security-Policy: sandbox` and `nosniff` are added to every
///   media answer by `ResponseHeaders.common`.
enum RemoteHead {
    static let kept: Set<String> = [
        "content-type", "content-length", "content-encoding", "content-range", "accept-ranges", "etag", "last-modified",
    ]

    static func sanitised(_ head: UpstreamResponseHead, url: RemoteURL, cacheTTL: Int) -> UpstreamResponseHead {
        var headers: HTTPHeaders = head.headers.filter { kept.contains($0.name.lowercased()) }
        let contentType = head.value(of: "Content-Type")
        if (200...299).contains(head.status) {
            let disposition = isInlineMedia(contentType) ? "inline" : "attachment"
            headers.append(("Content-Disposition", "\(disposition); filename=\"\(safeFilename(url))\""))
            let remoteCacheControl = head.value(of: "Cache-Control")
            headers.append(("Cache-Control", ResponseHeaders.forbidsSharedCache(remoteCacheControl)
                                ? "private, no-store" : "public, max-age=\(cacheTTL)"))
        }
        if contentType == nil { headers.append(("Content-Type", "application/octet-stream")) }
        headers.append(("X-Herd-Source", "remote"))
        return UpstreamResponseHead(status: head.status, headers: headers, closeDelimited: head.closeDelimited)
    }

    /// Images, audio and video a browser shows inline; never SVG (it can
    /// carry script) nor anything unnamed.
    static func isInlineMedia(_ contentType: String?) -> Bool {
        guard let contentType else { return false }
        let type = contentType.split(separator: ";", maxSplits: 1)[0].trimmingHTTPWhitespace().lowercased()
        if type.hasPrefix("image/") { return !type.hasPrefix("image/svg") }
        return type.hasPrefix("audio/") || type.hasPrefix("video/")
    }

    /// The URL's last path segment, percent-decoded, in characters that need
    /// no quoting anywhere: at most 100, never empty.
    static func safeFilename(_ url: RemoteURL) -> String {
        let decoded = PercentEncoding.decode(url.basename) ?? url.basename
        var name = ""
        for scalar in decoded.unicodeScalars {
            guard name.unicodeScalars.count < 100 else { break }
            let safe = scalar.isASCII && (scalar.properties.isAlphabetic || ("0"..."9").contains(scalar) || "._-+".unicodeScalars.contains(scalar))
            name.unicodeScalars.append(safe ? scalar : "_")
        }
        while name.hasPrefix(".") { name.removeFirst() }
        return name.isEmpty ? "file" : name
    }
}
