import Basics
import FastCGI
import Logging
import Negotiation
import Upstream

/// Answers requests on one accept thread: validates the URI, routes it,
/// and proxies media from the origin through this thread's curl handle.
final class RequestHandler: FastCGIResponder {
    private let context: WorkerContext
    private let upstream: UpstreamClient

    init(context: WorkerContext, upstream: UpstreamClient) {
        self.context = context
        self.upstream = upstream
    }

    func respond(to exchange: FastCGIExchange) {
        let started = MonotonicClock.now()
        let method = exchange.param(FastCGIParam.method) ?? "GET"
        let uri = exchange.param(FastCGIParam.uri) ?? ""
        var logger = context.logger
        logger[metadataKey: "request.id"] = .string(Self.requestID(from: exchange))

        var record = RequestRecord(method: method)
        context.metrics.requestStarted()
        defer {
            record.seconds = MonotonicClock.now() - started
            record.bytesSent = exchange.bodyBytesWritten
            context.metrics.requestFinished(route: record.route, status: record.status, bytesSent: record.bytesSent)
            record.log(to: logger, uri: uri, aborted: exchange.aborted)
        }

        let target: RequestTarget
        do {
            target = try RequestTarget(validating: uri, maxLength: context.configuration.server.maxURILength)
        } catch {
            record.route = "rejected"
            record.detail = error.reason
            sendError(error.status, reason: error.reason, method: method, exchange: exchange, record: &record)
            return
        }

        let route = Router.route(path: target.path)
        record.route = route.label
        switch route {
        case .health:
            send(200, body: "OK\n", contentType: "text/plain; charset=utf-8", cacheControl: "no-store",
                 method: method, exchange: exchange, record: &record)
        case .metrics:
            send(200, body: String(decoding: context.metrics.exposition(), as: UTF8.self),
                 contentType: "text/plain; version=0.0.4; charset=utf-8", cacheControl: "no-store",
                 method: method, exchange: exchange, record: &record)
        case .notFound:
            sendError(404, reason: "not_a_media_route", method: method, exchange: exchange, record: &record)
        case .media:
            guard let upstreamMethod = UpstreamRequest.Method(rawValue: method) else {
                sendError(405, reason: "method_not_allowed", method: method, exchange: exchange, record: &record,
                          extraHeaders: [("Allow", "GET, HEAD")], vary: true)
                return
            }
            proxy(target, method: upstreamMethod, exchange: exchange, record: &record)
        }
    }

    // MARK: - Media

    private func proxy(_ target: RequestTarget, method: UpstreamRequest.Method, exchange: FastCGIExchange, record: inout RequestRecord) {
        let configuration = context.configuration
        let (variant, forwardURI) = Self.variant(for: target, exchange: exchange, configuration: configuration)
        record.variant = variant.rawValue

        // The client's copy of one of *our* ETags means nothing to the
        // origin: herd answers that conditional request itself, after
        // fetching the source. Anything else goes to the origin as sent.
        let ifNoneMatch = exchange.param(FastCGIParam.ifNoneMatch)
        let ownConditional = ifNoneMatch.map(ResponseHeaders.isHerdETag) ?? false
        var headers: [(name: String, value: String)] = []
        for (param, name) in HeaderPolicy.forwardedToOrigin {
            guard let value = exchange.param(param), !value.isEmpty, FastCGIExchange.isSafeHeaderValue(value) else { continue }
            if ownConditional, param == FastCGIParam.ifNoneMatch || param == FastCGIParam.ifModifiedSince { continue }
            headers.append((name, value))
        }
        var base = configuration.upstream.url
        while base.hasSuffix("/") { base.removeLast() }
        // HEAD is answered with GET's headers, which for a converted image
        // means fetching and converting; for anything else the transfer
        // stops after the first bytes.
        let request = UpstreamRequest(url: base + forwardURI, method: .get, headers: headers)
        let responder = ImageResponder(exchange: exchange, context: context, variant: variant, includeBody: method == .get,
                                       ifNoneMatch: ownConditional ? ifNoneMatch : nil)
        defer {
            if record.served == nil { record.served = responder.servedVariant }
            if let note = responder.note {
                if (responder.sentStatus ?? 0) >= 400 { record.detail = note } else { record.note = note }
            }
        }

        // Plain requests for what looks like an image share one fetch per
        // source and the source cache. Requests the origin must answer
        // itself (ranges, its own validators) and other media (videos:
        // nothing to share, and they stream) fetch on their own.
        guard configuration.cache.singleFlight, headers.isEmpty, Self.looksLikeImage(target.path) else {
            guard let host = enterOriginHost(request, method: method, exchange: exchange, record: &record) else { return }
            defer { context.originHosts.leave(host: host) }
            fetch(request, responder: responder, exchange: exchange, record: &record, includeBody: method == .get)
            return
        }
        let key = request.url
        var revalidate: SourceResponse? = nil
        switch context.sources.lookup(key) {
        case .fresh(let cached):
            record.note = "source_cache_hit"
            responder.respond(with: cached, sourceKey: key)
            record.status = responder.sentStatus ?? 500
            return
        case .stale(let cached):
            revalidate = cached
        case .missing:
            break
        }

        var leaderRecord: RequestRecord? = nil
        let deadline = MonotonicClock.now() + min(max(configuration.upstream.transferTimeout, configuration.upstream.timeout), 60)
        let shared = context.sources.fetches.run(key, deadline: deadline) { () -> Result<SourceStore.FetchOutcome, any Error> in
            var conditional = request
            if let revalidate {
                if let etag = revalidate.head.value(of: "ETag") { conditional.headers.append(("If-None-Match", etag)) }
                if let modified = revalidate.head.value(of: "Last-Modified") { conditional.headers.append(("If-Modified-Since", modified)) }
            }
            // Only the leader fetches, so only it takes a place among the
            // host's fetches; its waiters share its fate (a refusal too).
            guard let host = context.originHosts.enter(request.url) else { return .failure(OriginBusy()) }
            defer { context.originHosts.leave(host: host) }
            var own = record
            let outcome = fetch(conditional, responder: nil, exchange: exchange, record: &own, includeBody: method == .get,
                                revalidating: revalidate)
            leaderRecord = own
            switch outcome {
            case .whole(let source):
                context.sources.store(key, source)
                return .success(.whole(source))
            case .revalidated(let source):
                context.sources.refresh(key, lifetime: ResponseHeaders.originMaxAge(source.head))
                return .success(.whole(source))
            case .streamed:
                return .success(.streamed)
            case .failed(let error):
                return .failure(error)
            }
        }
        if let leaderRecord { record = leaderRecord }

        switch shared {
        case .value(.whole(let source), let coalesced):
            if coalesced {
                context.metrics.coalesced(kind: "fetch")
                record.note = "coalesced"
            }
            responder.respond(with: source, sourceKey: key)
            record.status = responder.sentStatus ?? 500
        case .value(.streamed, let coalesced):
            // The leader streamed its own copy (not an image after all).
            if coalesced {
                fetch(request, responder: responder, exchange: exchange, record: &record, includeBody: method == .get)
            }
        case .failure(is OriginBusy, let coalesced):
            if coalesced { context.metrics.coalesced(kind: "fetch") }
            refuseOriginBusy(method: method, exchange: exchange, record: &record)
        case .failure(let error, let coalesced):
            if coalesced {
                // The leader's failure, at once, for every waiter.
                context.metrics.coalesced(kind: "fetch")
                let upstreamError = error as? UpstreamError
                record.detail = upstreamError?.description ?? "\(error)"
                sendError(upstreamError?.httpStatus ?? 502, reason: upstreamError?.kind.rawValue ?? "origin", method: method.rawValue,
                          exchange: exchange, record: &record, vary: true)
            }
        case .timedOut:
            record.detail = "gave up waiting for another request's fetch"
            sendError(504, reason: "coalesced_wait_timeout", method: method.rawValue, exchange: exchange, record: &record, vary: true)
        }
    }

    /// The origin host has no room for another fetch (OriginHostLimiter).
    struct OriginBusy: Error {}

    /// Takes a place among the fetches in flight to this origin host, or
    /// answers 503 at once when the host has none left (a stalled origin
    /// must not take the threads that serve everything else). Never stored:
    /// the next request may well find room.
    private func enterOriginHost(_ request: UpstreamRequest, method: UpstreamRequest.Method, exchange: FastCGIExchange,
                                 record: inout RequestRecord) -> String? {
        if let host = context.originHosts.enter(request.url) { return host }
        refuseOriginBusy(method: method, exchange: exchange, record: &record)
        return nil
    }

    private func refuseOriginBusy(method: UpstreamRequest.Method, exchange: FastCGIExchange, record: inout RequestRecord) {
        record.detail = "too many fetches in flight to a stalled origin host"
        sendError(503, reason: "origin_busy", method: method.rawValue, exchange: exchange, record: &record,
                  extraHeaders: [("Retry-After", "1")], vary: true, cacheControl: "no-store")
    }

    enum FetchResult {
        case whole(SourceResponse)
        /// The origin confirmed the cached copy (304 to our revalidation).
        case revalidated(SourceResponse)
        case streamed
        case failed(any Error)
    }

    /// One origin fetch. Streams what is not held back; answers a held-back
    /// response with `responder` when given one, else returns it. Errors
    /// are answered here (or the connection cut, when the head went out).
    @discardableResult
    private func fetch(_ request: UpstreamRequest, responder: ImageResponder?, exchange: FastCGIExchange,
                       record: inout RequestRecord, includeBody: Bool, revalidating: SourceResponse? = nil) -> FetchResult {
        let sink = MediaResponse(exchange: exchange, context: context, includeBody: includeBody, request: request)
        sink.revalidating = revalidating
        let outcome = upstream.fetch(request, into: sink)

        record.originStatus = outcome.status
        record.originSeconds = outcome.seconds
        let error = sink.refusal ?? (sink.stoppedEarly ? nil : outcome.error)
        context.metrics.upstreamFinished(
            seconds: outcome.seconds, bodyBytes: outcome.bodyBytes,
            newConnection: !outcome.reusedConnection, errorKind: error?.kind.rawValue)

        guard let error else {
            if let source = sink.heldBack {
                if let responder {
                    responder.respond(with: source, sourceKey: request.url)
                    record.status = responder.sentStatus ?? 502
                }
                return sink.wasRevalidated ? .revalidated(source) : .whole(source)
            }
            record.status = sink.sentStatus ?? 502
            record.served = sink.servedVariant
            return .streamed
        }
        record.detail = error.description
        if error.kind == .clientGone {
            // Nobody is listening; the status is what we had started to send.
            record.status = sink.sentStatus ?? 499
            exchange.abort()
        } else if exchange.headSent {
            // Too late for an error status: cut the response short so nginx
            // sees it as incomplete and neither caches nor completes it.
            record.status = sink.sentStatus ?? 502
            exchange.abort()
        } else {
            sendError(error.httpStatus, reason: error.kind.rawValue, method: request.method == .head ? "HEAD" : (includeBody ? "GET" : "HEAD"),
                      exchange: exchange, record: &record, vary: true)
        }
        return .failed(error)
    }

    /// Whether a path names an image by its extension. Only decides whether
    /// to share the fetch (a video streams and is not shared); what is
    /// decoded is decided from the bytes, never from the name.
    static func looksLikeImage(_ path: Substring) -> Bool {
        guard let dot = path.lastIndex(of: "."), !path[dot...].contains("/") else { return false }
        switch path[path.index(after: dot)...].lowercased() {
        case "jpg", "jpeg", "png", "gif", "webp", "avif", "jfif", "pjpeg": return true
        default: return false
        }
    }

    /// The variant to serve and the URI to ask the origin for. nginx's
    /// `HERD_VARIANT` is authoritative (it is what nginx keyed its cache
    /// on); in Cloudflare mode `format=` decides and is not forwarded;
    /// otherwise `Accept`, by the rules of `AcceptNegotiation`.
    static func variant(for target: RequestTarget, exchange: FastCGIExchange, configuration: HerdConfiguration) -> (Variant, String) {
        let enabled = AcceptNegotiation.Enabled(avif: configuration.image.enableAVIF, webp: configuration.image.enableWebP)
        var forward = target.forwardable
        var variant: Variant
        if configuration.server.behindCloudflareFree {
            let extracted = FormatQuery.extract(from: target.query, enabled: enabled)
            variant = extracted.variant
            forward = RequestTarget.percentEncodingUnsafe(String(target.path)) + (extracted.remainingQuery.map { "?" + $0 } ?? "")
        } else {
            variant = AcceptNegotiation.variant(accept: exchange.param(FastCGIParam.accept), enabled: enabled)
        }
        if let named = exchange.param(FastCGIParam.variant).flatMap(Variant.init(rawValue:)) {
            switch named {
            case .avif where !enabled.avif, .webp where !enabled.webp: variant = .orig
            default: variant = named
            }
        }
        return (variant, forward)
    }

    // MARK: - Small responses

    private func send(_ status: Int, body: String, contentType: String, cacheControl: String, method: String,
                      exchange: FastCGIExchange, record: inout RequestRecord,
                      extraHeaders: [(name: String, value: String)] = []) {
        var headers: [(name: String, value: String)] = [("Content-Type", contentType), ("Cache-Control", cacheControl)]
        if !context.configuration.server.viaHeader.isEmpty {
            headers.append(("Via", "1.1 \(context.configuration.server.viaHeader)"))
        }
        headers += extraHeaders
        record.status = status
        ResponseHeaders.addNginxLifetime(&headers, configuration: context.configuration)
        exchange.respond(status: status, headers: headers, body: body, includeBody: method != "HEAD")
    }

    /// `vary`: the request was on a media route, where every response
    /// carries `Vary: Accept`, errors included.
    private func sendError(_ status: Int, reason: String, method: String, exchange: FastCGIExchange,
                           record: inout RequestRecord, extraHeaders: [(name: String, value: String)] = [], vary: Bool = false,
                           cacheControl: String? = nil) {
        var extra: [(name: String, value: String)] = [("X-Herd-Error", reason)] + extraHeaders
        if vary { extra.append(("Vary", "Accept")) }
        send(status, body: "\(status) \(HTTPStatus.reasonPhrase(status))\n", contentType: "text/plain; charset=utf-8",
             cacheControl: cacheControl ?? ResponseHeaders.errorCacheControl(ttl: context.configuration.cache.errorTTL),
             method: method, exchange: exchange, record: &record, extraHeaders: extra)
    }

    /// nginx's `$request_id` when the shipped snippet passes it, so the
    /// worker's log line and nginx's access log share an id; else our own.
    private static func requestID(from exchange: FastCGIExchange) -> String {
        if let id = exchange.param(FastCGIParam.forwardedRequestID) ?? exchange.param(FastCGIParam.requestID),
           (1...64).contains(id.utf8.count),
           id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x2d }) {
            return id
        }
        var generator = SystemRandomNumberGenerator()
        let value = generator.next() as UInt64
        let hex = String(value, radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }
}

/// What one request did, for its log line and metrics.
struct RequestRecord {
    var method: String
    var route = "-"
    var status = 500
    var originStatus: Int?
    var originSeconds: Double?
    var seconds: Double = 0
    var bytesSent = 0
    /// What went wrong (an origin failure, a rejection).
    var detail: String?
    /// Something worth knowing that is not an error (why an image was not converted).
    var note: String?
    /// The variant asked for and what was served (avif, webp, jpeg, orig).
    var variant: String?
    var served: String?

    init(method: String) { self.method = method }

    func log(to logger: Logger, uri: String, aborted: Bool) {
        var metadata: Logger.Metadata = [
            "http.method": .string(method),
            "http.path": .string(String(uri.prefix(512))),
            "http.status": .stringConvertible(status),
            "herd.route": .string(route),
            "duration_ms": .string(String(format: seconds * 1000)),
            "bytes": .stringConvertible(bytesSent),
        ]
        if let originStatus { metadata["origin.status"] = .stringConvertible(originStatus) }
        if let originSeconds { metadata["origin.duration_ms"] = .string(String(format: originSeconds * 1000)) }
        if let variant { metadata["herd.variant"] = .string(variant) }
        if let served { metadata["herd.served"] = .string(served) }
        if let detail { metadata["error"] = .string(detail) }
        if let note { metadata["note"] = .string(note) }
        if aborted { metadata["aborted"] = "true" }
        let level: Logger.Level = status >= 500 ? .warning : .info
        logger.log(level: level, "request", metadata: metadata)
    }
}

private extension String {
    /// Milliseconds with one decimal, without Foundation's formatter.
    init(format milliseconds: Double) {
        let tenths = Int((milliseconds * 10).rounded())
        self = "\(tenths / 10).\(tenths % 10)"
    }
}
