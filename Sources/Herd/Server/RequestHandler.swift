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
        let started = monotonicSeconds()
        let method = exchange.param("REQUEST_METHOD") ?? "GET"
        let uri = exchange.param("REQUEST_URI") ?? ""
        var logger = context.logger
        logger[metadataKey: "request.id"] = .string(Self.requestID(from: exchange))

        var record = RequestRecord(method: method)
        context.metrics.requestStarted()
        defer {
            record.seconds = monotonicSeconds() - started
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
        let ifNoneMatch = exchange.param("HTTP_IF_NONE_MATCH")
        let ownConditional = ifNoneMatch.map(ResponseHeaders.isHerdETag) ?? false
        var headers: [(name: String, value: String)] = []
        for (param, name) in HeaderPolicy.forwardedToOrigin {
            guard let value = exchange.param(param), !value.isEmpty, FastCGIExchange.isSafeHeaderValue(value) else { continue }
            if ownConditional, param == "HTTP_IF_NONE_MATCH" || param == "HTTP_IF_MODIFIED_SINCE" { continue }
            headers.append((name, value))
        }
        var base = configuration.upstream.url
        while base.hasSuffix("/") { base.removeLast() }
        // HEAD is answered with GET's headers, which for a converted image
        // means fetching and converting; for anything else the transfer
        // stops after the first bytes.
        let request = UpstreamRequest(url: base + forwardURI, method: .get, headers: headers)
        let sink = MediaResponse(exchange: exchange, context: context, variant: variant, includeBody: method == .get,
                                 ifNoneMatch: ownConditional ? ifNoneMatch : nil)
        let outcome = upstream.fetch(request, into: sink)

        record.originStatus = outcome.status
        record.originSeconds = outcome.seconds
        let error = sink.stoppedEarly ? nil : outcome.error
        context.metrics.upstreamFinished(
            seconds: outcome.seconds, bodyBytes: outcome.bodyBytes,
            newConnection: !outcome.reusedConnection, errorKind: error?.kind.rawValue)

        guard let error else {
            sink.finish()
            record.status = sink.sentStatus ?? 502
            record.served = sink.servedVariant
            if (sink.sentStatus ?? 0) >= 400 { record.detail = sink.note } else { record.note = sink.note }
            return
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
            sendError(error.httpStatus, reason: error.kind.rawValue, method: method.rawValue, exchange: exchange,
                      record: &record, vary: true)
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
            variant = AcceptNegotiation.variant(accept: exchange.param("HTTP_ACCEPT"), enabled: enabled)
        }
        if let named = exchange.param("HERD_VARIANT").flatMap(Variant.init(rawValue:)) {
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
        exchange.respond(status: status, headers: headers, body: body, includeBody: method != "HEAD")
    }

    /// `vary`: the request was on a media route, where every response
    /// carries `Vary: Accept`, errors included.
    private func sendError(_ status: Int, reason: String, method: String, exchange: FastCGIExchange,
                           record: inout RequestRecord, extraHeaders: [(name: String, value: String)] = [], vary: Bool = false) {
        var extra: [(name: String, value: String)] = [("X-Herd-Error", reason)] + extraHeaders
        if vary { extra.append(("Vary", "Accept")) }
        send(status, body: "\(status) \(HTTPStatus.reasonPhrase(status))\n", contentType: "text/plain; charset=utf-8",
             cacheControl: ResponseHeaders.errorCacheControl(ttl: context.configuration.cache.errorTTL),
             method: method, exchange: exchange, record: &record, extraHeaders: extra)
    }

    /// nginx's `$request_id` when the shipped snippet passes it, so the
    /// worker's log line and nginx's access log share an id; else our own.
    private static func requestID(from exchange: FastCGIExchange) -> String {
        if let id = exchange.param("HTTP_X_REQUEST_ID") ?? exchange.param("HERD_REQUEST_ID"),
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
