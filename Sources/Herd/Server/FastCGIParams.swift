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
    /// nginx's `$request_id`, so nginx's log line and herd's share an id
    /// (`X-Request-Id` from a proxy in front is taken first).
    static let requestID = "HERD_REQUEST_ID"
    static let forwardedRequestID = "HTTP_X_REQUEST_ID"
    /// Validators and ranges: the client's on a bypass, nginx's own
    /// revalidation otherwise (`$herd_param_*`); passed to the origin
    /// unless they name one of herd's ETags.
    static let ifNoneMatch = "HTTP_IF_NONE_MATCH"
    static let ifModifiedSince = "HTTP_IF_MODIFIED_SINCE"
    static let range = "HTTP_RANGE"
    static let ifRange = "HTTP_IF_RANGE"
}
