/// The nginx ⇄ worker contract, herd's side: every FastCGI parameter herd
/// reads, by name. The shipped snippet that sends them is
/// deploy/nginx/server/media-fastcgi.conf; nginx sends nothing else (no
/// client Cookie or Authorization: `fastcgi_pass_request_headers off`).
enum FastCGIParam {
    /// The method; a HEAD that nginx may store the answer of arrives as GET
    /// (`$herd_param_method`), so the entry always holds a body.
    static let method = "REQUEST_METHOD"
    /// The raw request target, validated by `RequestTarget` before anything else.
    static let uri = "REQUEST_URI"
    /// The client's Accept, for the variant when nginx sends none.
    static let accept = "HTTP_ACCEPT"
    /// The variant nginx keyed its cache on (`$herd_image_variant`):
    /// authoritative, so nginx's key and herd's answer never disagree.
    static let variant = "HERD_VARIANT"
    /// "1": forget this request's source instead of answering it (`herd
    /// purge`, straight on the worker's socket; nginx never sends it).
    static let purge = "HERD_PURGE"
    /// nginx's `$herd_request_id` (its `$request_id`, or a trusted proxy's
    /// X-Request-Id), so nginx's, herd's and the app's log lines share an id.
    static let requestID = "HERD_REQUEST_ID"
    /// Validators and ranges: the client's on a bypass, nginx's own
    /// revalidation otherwise (`$herd_param_*`); passed to the origin
    /// unless they name one of herd's ETags.
    static let ifNoneMatch = "HTTP_IF_NONE_MATCH"
    static let ifModifiedSince = "HTTP_IF_MODIFIED_SINCE"
    static let range = "HTTP_RANGE"
    static let ifRange = "HTTP_IF_RANGE"
    /// The media location's lifetimes, seconds (`$herd_media_ttl`,
    /// `$herd_redirect_ttl`, `$herd_not_found_ttl`): what herd puts in
    /// Cache-Control for a success, a redirect without a lifetime of its
    /// own, and a 404/410, instead of cache.ttl, cache.redirect_ttl and
    /// cache.error_ttl. nginx and browsers then keep what the location says.
    static let ttl = "HERD_TTL"
    static let redirectTTL = "HERD_REDIRECT_TTL"
    static let notFoundTTL = "HERD_NOT_FOUND_TTL"
}
