import Basics
import Remote
import Upstream
import Settings

/// What a Misskey media-proxy request asks for (misskey-dev/media-proxy's
/// SPECIFICATION.md): `/proxy/{any name}?url=…` and the transform keys,
/// each meaning "present", whatever its value (Fastify's `'emoji' in
/// request.query`).
struct MisskeyRequest: Sendable, Equatable {
    enum Preset: String, Sendable, CaseIterable {
        /// Height at most 128 px.
        case emoji
        /// Height at most 320 px.
        case avatar
        /// The first frame; fit 498×422 (or the emoji/avatar height).
        case `static`
        /// Fit 200×200.
        case preview
        /// 96×96 PNG carried in its alpha channel (Web Push).
        case badge
    }

    /// The remote URL, percent-decoded as Fastify decodes a query value.
    var url: String
    var presets: Set<Preset>
    /// Answer failures with the placeholder image (`max-age=300`).
    var fallback: Bool

    var transforms: Bool { !presets.isEmpty }

    /// The request's query read the way Fastify (Node's querystring) reads
    /// it: `&`-separated, `+` as a space, `%XX` decoded; the first `url`
    /// wins. Nil when there is no usable `url` (400).
    static func parse(query: Substring?) -> (url: String?, presets: Set<Preset>, fallback: Bool) {
        var url: String? = nil
        var presets: Set<Preset> = []
        var fallback = false
        for parameter in query?.split(separator: "&") ?? [] {
            let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(parts[0]) else { continue }
            if name == "url", url == nil, parts.count == 2 { url = decode(parts[1]) }
            if name == "fallback" { fallback = true }
            if let preset = Preset(rawValue: name) { presets.insert(preset) }
        }
        return (url.flatMap { $0.isEmpty ? nil : $0 }, presets, fallback)
    }

    private static func decode(_ text: Substring) -> String? {
        PercentEncoding.decode(String(text.map { $0 == "+" ? " " : $0 }))
    }
}

/// Misskey's and its forks' external media proxy on `/proxy/{name}` (one
/// path segment: Akkoma's signed URLs always have more), when
/// `misskey.enabled`. Unsigned, so an open proxy by design: the URL gets the
/// same checks as a signed one before any network activity (400 not a URL,
/// 403 a URL herd never fetches), `misskey.allowed_origins` when set, and
/// then the guarded `RemoteFetcher` (address guard at connect time, each
/// redirect judged again, `remote.blocked_domains`, the size, time and
/// per-host caps). Every preset and variant of one URL share one fetch.
struct MisskeyProxySource: SourceLocator {
    let sharing: Bool
    let allowedOrigins: Set<WebOrigin>

    init?(configuration: HerdConfiguration) {
        guard configuration.misskey.enabled else { return nil }
        sharing = configuration.cache.singleFlight
        allowedOrigins = Set(configuration.misskey.allowedOrigins.compactMap { WebOrigin($0) })
    }

    func locate(_ request: MediaRequest) throws(Refusal) -> SourceLocation? {
        guard request.route == .misskeyProxy else { return nil }
        let (text, presets, fallback) = MisskeyRequest.parse(query: request.target.query)
        guard let text else {
            throw Refusal(status: 400, reason: "missing_url", detail: "the url query parameter is required",
                          headers: MisskeyAnswer.errorHeaders)
        }
        if !allowedOrigins.isEmpty {
            guard let origin = request.refererOrigin, allowedOrigins.contains(origin) else {
                // Not stored (MisskeyAnswer.failed): the same URL is allowed
                // from the instance's own pages.
                throw Refusal(status: 403, reason: "origin_not_allowed",
                              detail: "the page asking is not one of misskey.allowed_origins")
            }
        }
        let url: RemoteURL
        do {
            url = try RemoteURL.checked(text)
        } catch {
            throw Refusal(signedURL: error, query: nil).withHeaders(MisskeyAnswer.errorHeaders)
        }
        // The proxy asked to fetch itself (`url=https://this-host/proxy/…?url=…`,
        // nested): every level a request of its own, from this machine, past
        // the client's rate limit. Refused.
        if let host = request.serverName, url.host == host || url.host.hasPrefix(host + ":"),
           url.pathAndQuery.hasPrefix("/proxy/") {
            throw Refusal(status: 403, reason: "proxy_loop", detail: "the proxy does not fetch its own /proxy/ URLs",
                          headers: MisskeyAnswer.errorHeaders)
        }
        let misskey = MisskeyRequest(url: url.absolute, presets: presets, fallback: fallback)
        // The whole file, held once for every preset and variant: the key
        // names the URL only.
        return SourceLocation(source: .remote(UpstreamRequest(url: url.absolute)), key: "remote-misskey " + url.absolute,
                              shareable: sharing, misskey: misskey)
    }
}

extension Refusal {
    /// The same refusal with `extra` headers added.
    func withHeaders(_ extra: HTTPHeaders) -> Refusal {
        Refusal(status: status, reason: reason, detail: detail, retryAfter: retryAfter, headers: headers + extra)
    }
}
