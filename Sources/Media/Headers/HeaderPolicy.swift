import Basics

/// Which headers cross herd, in each direction.
public enum HeaderPolicy {
    /// Hop-by-hop headers (RFC 9110 §7.6.1) describe one connection and are
    /// never forwarded.
    static let hopByHop: Set<String> = [
        "connection", "keep-alive", "proxy-connection", "proxy-authenticate", "proxy-authorization",
        "te", "trailer", "trailers", "transfer-encoding", "upgrade",
    ]

    /// Never passed to nginx whatever the configuration says:
    /// - `set-cookie`: a cached response must never hand one client's cookie to another;
    /// - `status`: FastCGI would read it as our status line;
    /// - `x-accel-*`: nginx obeys these from its upstream (X-Accel-Redirect
    ///   serves internal locations), so the origin must not be able to set them;
    /// - `x-herd-*`: herd's own (variant, source, error): an origin's would
    ///   pass for herd's;
    /// - `content-length`, `date`, `server`: herd and nginx set their own;
    /// - `x-cache-status`, `x-cache-variant`, `strict-transport-security`:
    ///   nginx and the site say these (an origin's `max-age=0` would undo HSTS).
    static let alwaysDropped: Set<String> = [
        "set-cookie", "set-cookie2", "status", "content-length", "date", "server",
        // nginx's and the site's own: an origin must not forge or undo them.
        "x-cache-status", "x-cache-variant", "strict-transport-security",
    ]

    /// Object storage's own headers (S3 and its clones, Google Cloud
    /// Storage, Ceph's RGW, Azure, Alibaba): request ids, storage classes,
    /// server-side encryption and replication details, bucket metadata.
    /// They describe the bucket, not the file, and never reach clients.
    static let storagePrefixes = ["x-amz-", "x-amzn-", "x-goog-", "x-guploader-", "x-rgw-", "x-ms-", "x-oss-",
                                  "x-object-meta-", "x-container-meta-", "x-trans-id", "x-openstack-", "x-bz-",
                                  "x-cos-", "x-obs-", "x-minio-", "cf-"]

    /// What survives when `server.preserve_upstream_headers = false`: what
    /// the body needs to be understood, cached and range-requested.
    static let essential: Set<String> = [
        "content-type", "content-encoding", "content-range", "accept-ranges", "content-disposition",
        "etag", "last-modified", "cache-control", "expires", "location", "vary", "age",
    ]

    /// Request headers passed to the origin (from nginx's `HTTP_*` params):
    /// the conditional and range headers, so 304 and 206 come from the
    /// origin. Cookies and credentials never go: media is public and the
    /// answer must not depend on who asked.
    static let forwardedToOrigin: [(param: String, name: String)] = [
        (FastCGIParam.ifNoneMatch, "If-None-Match"),
        (FastCGIParam.ifModifiedSince, "If-Modified-Since"),
        (FastCGIParam.range, "Range"),
        (FastCGIParam.ifRange, "If-Range"),
    ]

    /// Headers named in Connection: hop-by-hop for this message too.
    static func namedInConnection(_ origin: [(name: String, value: String)]) -> Set<String> {
        var dropped = Set<String>()
        for (name, value) in origin where name.caseInsensitiveEquals("connection") {
            for token in value.split(separator: ",") { dropped.insert(token.trimmingHTTPWhitespace().lowercased()) }
        }
        return dropped
    }

    /// Whether an origin response header (its name lowercased) reaches nginx.
    static func passes(lowercasedName name: String, preserveAll: Bool, dropped: Set<String>) -> Bool {
        if hopByHop.contains(name) || alwaysDropped.contains(name) || name.hasPrefix("x-accel-") || name.hasPrefix("x-herd-") { return false }
        if storagePrefixes.contains(where: name.hasPrefix) { return false }
        if !dropped.isEmpty, dropped.contains(name) { return false }
        return preserveAll || essential.contains(name)
    }
}
