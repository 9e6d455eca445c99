import Basics
import FastCGI
import Negotiation
import Settings

/// A media request, read once from nginx's FastCGI params: everything the
/// later steps need, so none of them reads a param again.
struct MediaRequest {
    let target: RequestTarget
    let route: MediaRoute
    /// The client's method. A HEAD is answered with GET's headers; the
    /// source is always fetched with GET.
    let isHead: Bool
    /// The variant to serve (see `variant(…)`).
    let variant: Variant
    /// The path and query to ask the source for.
    let forwardURI: String
    /// The client's conditional and range headers that go to the origin
    /// (HeaderPolicy.forwardedToOrigin), so its 304 and 206 reach the client.
    let forwardedHeaders: HTTPHeaders
    /// The client's If-None-Match when it names one of herd's own ETags:
    /// herd answers that conditional itself, after fetching the source; it
    /// means nothing to the origin and is not forwarded.
    let ownIfNoneMatch: String?
    /// How long the nginx location wants its answers kept.
    let lifetimes: Lifetimes
    /// The page that asked, as `scheme://host[:port]`: the `Origin` header,
    /// else the origin of `Referer` (`misskey.allowed_origins`).
    let refererOrigin: WebOrigin?
    /// The host nginx served this request for (`SERVER_NAME`, its `$host`).
    let serverName: String?

    /// The lifetimes nginx's location sent (`HERD_TTL`, `HERD_REDIRECT_TTL`,
    /// `HERD_NOT_FOUND_TTL`), in seconds; nil where it sent none, and the
    /// configuration's default applies. A value that is not a number from
    /// 0 to a year is ignored.
    struct Lifetimes: Sendable, Equatable {
        var success: Int? = nil
        var redirect: Int? = nil
        var notFound: Int? = nil

        init(success: Int? = nil, redirect: Int? = nil, notFound: Int? = nil) {
            self.success = success
            self.redirect = redirect
            self.notFound = notFound
        }

        init(params: some RequestParams) {
            func seconds(_ name: String) -> Int? {
                guard let text = params.param(name), let value = Int(text), (0...31_536_000).contains(value) else { return nil }
                return value
            }
            self.init(success: seconds(FastCGIParam.ttl), redirect: seconds(FastCGIParam.redirectTTL),
                      notFound: seconds(FastCGIParam.notFoundTTL))
        }
    }

    /// Reads the request; a method other than GET or HEAD is refused.
    init(target: RequestTarget, route: MediaRoute, params: some RequestParams,
         configuration: HerdConfiguration) throws(Refusal) {
        switch params.param(FastCGIParam.method) ?? "GET" {
        case "GET": isHead = false
        case "HEAD": isHead = true
        default:
            throw Refusal(status: 405, reason: "method_not_allowed", headers: [("Allow", "GET, HEAD")])
        }
        self.target = target
        self.route = route
        (variant, forwardURI) = Self.variant(for: target, params: params, configuration: configuration)

        let ifNoneMatch = params.param(FastCGIParam.ifNoneMatch)
        let own = ifNoneMatch.map(ResponseHeaders.isHerdETag) ?? false
        ownIfNoneMatch = own ? ifNoneMatch : nil
        var headers: HTTPHeaders = []
        for (param, name) in HeaderPolicy.forwardedToOrigin {
            guard let value = params.param(param), !value.isEmpty, Self.isSafeHeaderValue(value) else { continue }
            if own, param == FastCGIParam.ifNoneMatch || param == FastCGIParam.ifModifiedSince { continue }
            headers.append((name, value))
        }
        forwardedHeaders = headers
        lifetimes = Lifetimes(params: params)
        // Read for Misskey's proxy only: nothing else asks who sent a request.
        if route == .misskeyProxy {
            refererOrigin = params.param("HTTP_ORIGIN").flatMap(WebOrigin.init(ofURL:))
                ?? params.param("HTTP_REFERER").flatMap(WebOrigin.init(ofURL:))
            serverName = params.param("SERVER_NAME")?.lowercased()
        } else {
            refererOrigin = nil
            serverName = nil
        }
    }

    /// The variant to serve and the URI to ask the origin for. nginx's
    /// `HERD_VARIANT` is authoritative (it is what nginx keyed its cache
    /// on); in Cloudflare mode `format=` decides and is not forwarded;
    /// otherwise `Accept`, by the rules of `AcceptNegotiation`.
    static func variant(for target: RequestTarget, params: some RequestParams,
                        configuration: HerdConfiguration) -> (Variant, String) {
        let formats = configuration.image.formatPreference
        var forward = target.forwardable
        let named = params.param(FastCGIParam.variant).flatMap(Variant.init(rawValue:))
        var variant: Variant
        if configuration.server.behindCloudflareFree {
            let extracted = FormatQuery.extract(from: target.query, formats: formats)
            variant = extracted.variant
            forward = PercentEncoding.encodingUnsafeInURL(String(target.path)) + (extracted.remainingQuery.map { "?" + $0 } ?? "")
        } else if named == nil {
            variant = AcceptNegotiation.variant(accept: params.param(FastCGIParam.accept), formats: formats)
        } else {
            variant = .orig  // nginx named it (below): Accept is not read
        }
        if let named { variant = named.restricted(to: formats) }
        return (variant, forward)
    }

    /// A header value safe to pass on: no CR, LF or NUL.
    static func isSafeHeaderValue(_ value: String) -> Bool {
        !value.utf8.contains { $0 == 0x0d || $0 == 0x0a || $0 == 0 }
    }
}
