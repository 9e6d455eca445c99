import Basics
import Remote
import Upstream
import Settings

/// Akkoma's and Pleroma's signed media proxy URLs, `/proxy/SIG/URL64[/NAME]`
/// and `/proxy/preview/…`, answered by herd itself when
/// `media_proxy.secret_key_base` is set: the signature and the URL are
/// checked here, before any network activity (403 bad signature, 400
/// malformed, 302 to the right filename), and the remote URL is fetched by
/// the guarded `RemoteFetcher`.
struct SignedRemoteSource: SourceLocator {
    let secret: [UInt8]
    let sharing: Bool
    /// `/proxy/ONE-SEGMENT` is Misskey's when `misskey.enabled`, else
    /// Akkoma's (a malformed signed URL: 400).
    let claimsOneSegment: Bool

    init?(configuration: HerdConfiguration) {
        guard !configuration.mediaProxy.secretKeyBase.isEmpty else { return nil }
        secret = Array(configuration.mediaProxy.secretKeyBase.utf8)
        sharing = configuration.cache.singleFlight
        claimsOneSegment = !configuration.misskey.enabled
    }

    func locate(_ request: MediaRequest) throws(Refusal) -> SourceLocation? {
        guard request.route == .akkomaProxy || (request.route == .misskeyProxy && claimsOneSegment) else { return nil }
        let signed: SignedProxyURL
        do {
            signed = try SignedProxyURL.verify(path: request.target.path, secret: secret)
        } catch {
            throw Refusal(signedURL: error, query: request.target.query)
        }
        var preview: PreviewRequest? = nil
        if signed.kind == .preview {
            let path = String(request.target.path)
            preview = PreviewRequest(originalPath: "/proxy/" + path.dropFirst("/proxy/preview/".count),
                                     staticFrame: Self.asksStatic(request.target.query))
        }
        return RemoteLocation.make(url: signed.remoteURL, for: request, preview: preview, sharing: sharing)
    }

    /// `static=true` (Akkoma's `?static=true` on a GIF preview), read as
    /// nginx reads `$arg_static` for its cache key: the first parameter
    /// named `static` in any case, its value as written.
    static func asksStatic(_ query: Substring?) -> Bool {
        let value = staticValue(query)
        return value == "true" || value == "1"
    }

    static func staticValue(_ query: Substring?) -> Substring? {
        for parameter in query?.split(separator: "&") ?? [] {
            let parts = parameter.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            if parts[0].lowercased() == "static" { return parts.count == 2 ? parts[1] : "" }
        }
        return nil
    }
}

/// go-camo's `/camo/DIGEST/URL`, when `camo.key` is set: the same checks,
/// guard and answers as Akkoma's URLs.
struct CamoSource: SourceLocator {
    let key: [UInt8]
    let sharing: Bool

    init?(configuration: HerdConfiguration) {
        guard !configuration.camo.key.isEmpty else { return nil }
        key = Array(configuration.camo.key.utf8)
        sharing = configuration.cache.singleFlight
    }

    func locate(_ request: MediaRequest) throws(Refusal) -> SourceLocation? {
        guard request.route == .camo else { return nil }
        let url: String
        do {
            url = try CamoURL.verify(path: request.target.path, key: key)
        } catch {
            throw Refusal(signedURL: error, query: nil)
        }
        return RemoteLocation.make(url: url, for: request, preview: nil, sharing: sharing)
    }
}

/// Where a signed remote URL's bytes come from.
enum RemoteLocation {
    static func make(url: String, for request: MediaRequest, preview: PreviewRequest?, sharing: Bool) -> SourceLocation {
        if let preview {
            // A preview is herd's own image: the client's conditionals and
            // ranges mean nothing to the remote. Previews share one fetch
            // among themselves (held whole, whatever the type).
            return SourceLocation(source: .remote(UpstreamRequest(url: url)), key: "remote-preview " + url,
                                  shareable: sharing, preview: preview)
        }
        let path = RemoteURL(url).map { Substring($0.pathAndQuery.split(separator: "?", maxSplits: 1)[0]) } ?? ""
        return SourceLocation(
            source: .remote(UpstreamRequest(url: url, headers: request.forwardedHeaders)),
            key: "remote " + url,
            shareable: sharing && request.forwardedHeaders.isEmpty && OriginSource.looksLikeImage(path))
    }
}

extension Refusal {
    /// The answer to a signed URL that fails its checks. Nothing was fetched.
    init(signedURL problem: SignedProxyURL.Problem, query: Substring?) {
        switch problem {
        case .malformed(let detail):
            self.init(status: 400, reason: "malformed_signed_url", detail: detail)
        case .badSignature:
            self.init(status: 403, reason: "bad_signature", detail: "the URL's signature does not match")
        case .refusedURL(let detail):
            self.init(status: 403, reason: "refused_url", detail: detail)
        case .wrongFilename(let redirectPath):
            // Only `static` of the query is kept: nginx keys these URLs on
            // it alone, so nothing else may change the answer.
            let kept = SignedRemoteSource.staticValue(query).map { "?static=" + $0 } ?? ""
            self.init(status: 302, reason: "wrong_filename", detail: "the filename is not the URL's",
                      headers: [("Location", redirectPath + kept)])
        }
    }
}
