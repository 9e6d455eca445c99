import Basics
import Upstream

/// A remote server's response head reduced to what a client may see, at
/// the boundary: everything after (the source cache, conversions, the
/// passthrough) treats it like the origin's head. A remote is anyone on the
/// internet, so its headers are allowed in by name, not filtered out:
///
/// - kept: validators, length, encoding, `Accept-Ranges`, and
///   `Content-Range` on a 206 only;
/// - `Content-Type` normalised to one `type/subtype` (one header line, no
///   list: browsers read a list differently than herd would), else
///   `application/octet-stream`;
/// - made here: `Content-Disposition` (`inline` only for an exact list of
///   image, audio and video types a browser shows as media; `attachment`
///   for everything else, so an HTML page, an SVG or an `image/x+xml`
///   document is never rendered from the media host) with a filename of
///   safe characters, and `Cache-Control` (`remote.cache_ttl`, 14 days like
///   Akkoma, for a success; a remote's `private` or `no-store` is obeyed);
/// - dropped: everything else (cookies, CORS, CSP, Location, Link, …).
///   `Content-Security-Policy: sandbox` and `nosniff` are added to every
///   media answer by herd's media headers.
///
/// Only 2xx and 304 heads get here: `RemoteFetcher` answers a remote's
/// error with herd's own (its page is never passed on).
public enum RemoteHead {
    static let kept: Set<String> = ["content-length", "content-encoding", "accept-ranges"]

    public static func sanitised(_ head: UpstreamResponseHead, url: RemoteURL, cacheTTL: Int) -> UpstreamResponseHead {
        var headers: HTTPHeaders = head.headers.filter { kept.contains($0.name.lowercased()) }
        // Validators only when well-formed: nginx revalidates with them.
        if let etag = head.value(of: "ETag"), isEntityTag(etag) { headers.append(("ETag", etag)) }
        if let modified = head.value(of: "Last-Modified"), isHTTPDate(modified) { headers.append(("Last-Modified", modified)) }
        if head.status == 206, let range = head.value(of: "Content-Range") { headers.append(("Content-Range", range)) }
        let declared = head.headers.filter { $0.name.caseInsensitiveEquals("Content-Type") }
        let type = declared.count == 1 ? mediaType(declared[0].value) : nil
        headers.append(("Content-Type", type ?? "application/octet-stream"))
        if (200...299).contains(head.status) {
            let disposition = type.map(inlineTypes.contains) == true ? "inline" : "attachment"
            headers.append(("Content-Disposition", "\(disposition); filename=\"\(safeFilename(url))\""))
            let remoteCacheControl = head.value(of: "Cache-Control")
            headers.append(("Cache-Control", CacheControl.forbidsSharedCache(remoteCacheControl)
                                ? "private, no-store" : "public, max-age=\(cacheTTL)"))
        }
        return UpstreamResponseHead(status: head.status, headers: headers, closeDelimited: head.closeDelimited)
    }

    /// `"…"` or `W/"…"` with visible ASCII and no quote inside (RFC 9110 §8.8.3).
    static func isEntityTag(_ value: String) -> Bool {
        var tag = Substring(value)
        if tag.hasPrefix("W/") { tag = tag.dropFirst(2) }
        guard tag.count >= 2, tag.first == "\"", tag.last == "\"", tag.utf8.count <= 256 else { return false }
        return tag.dropFirst().dropLast().utf8.allSatisfy { $0 >= 0x21 && $0 < 0x7f && $0 != 0x22 }
    }

    /// IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`: the one form a
    /// sender must use (RFC 9110 §5.6.7).
    static func isHTTPDate(_ value: String) -> Bool {
        let bytes = Array(value.utf8)
        guard bytes.count == 29, value.hasSuffix(" GMT"), bytes[3] == UInt8(ascii: ","), bytes[4] == 0x20 else { return false }
        let digits = [5, 6, 12, 13, 14, 15, 17, 18, 20, 21, 23, 24]
        return digits.allSatisfy { bytes[$0] >= 48 && bytes[$0] <= 57 } && bytes[19] == UInt8(ascii: ":") && bytes[22] == UInt8(ascii: ":")
    }

    /// `type/subtype`, lowercased, without parameters; nil unless both are
    /// RFC 9110 tokens (a comma-separated list is not one type).
    static func mediaType(_ value: String) -> String? {
        let essence = value.prefix { $0 != ";" }.trimmingHTTPWhitespace().lowercased()
        let parts = essence.split(separator: "/", omittingEmptySubsequences: false)
        guard parts.count == 2, parts.allSatisfy({ !$0.isEmpty && $0.utf8.allSatisfy(isTokenByte) }) else { return nil }
        return essence
    }

    private static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"): true
        default: "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// What a browser shows as an image, a sound or a video, and nothing
    /// else (no SVG, no `+xml`).
    static let inlineTypes: Set<String> = [
        "image/png", "image/apng", "image/jpeg", "image/pjpeg", "image/gif", "image/webp", "image/avif", "image/jxl",
        "image/heic", "image/heif", "image/bmp", "image/x-icon", "image/vnd.microsoft.icon",
        "audio/mpeg", "audio/mp4", "audio/aac", "audio/ogg", "audio/opus", "audio/flac", "audio/wav", "audio/x-wav",
        "audio/webm", "video/mp4", "video/webm", "video/ogg", "video/quicktime", "video/x-matroska",
    ]

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
