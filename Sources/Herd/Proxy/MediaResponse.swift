import FastCGI
import Imaging
import Negotiation
import Upstream

/// Streams or converts one media response.
///
/// A 200 from the origin is held back until its first bytes show what it
/// is. An image herd reads (sniffed, never taken from Content-Type) within
/// `image.max_source_bytes` is buffered whole and converted at the end;
/// anything else (video, SVG, HTML, an error page, a file too big to
/// convert) streams to nginx as it arrives, so memory stays flat.
final class MediaResponse: UpstreamResponseSink {
    enum Mode { case awaitingHead, sniffing, buffering, streaming }

    private let exchange: FastCGIExchange
    private let context: WorkerContext
    private let variant: Variant
    private let includeBody: Bool
    private let ifNoneMatch: String?
    private(set) var mode = Mode.awaitingHead
    private var head: UpstreamResponseHead?
    private var buffer: [UInt8] = []

    private(set) var sentStatus: Int?
    /// What was served: avif, webp, jpeg or orig.
    private(set) var servedVariant: String?
    /// Why an image was not converted, or why it was refused.
    private(set) var note: String?
    /// True when we stopped the transfer on purpose (HEAD of a non-image).
    private(set) var stoppedEarly = false

    /// Bytes that tell the formats apart (ISOBMFF needs 12).
    private static let sniffLength = 16

    init(exchange: FastCGIExchange, context: WorkerContext, variant: Variant, includeBody: Bool, ifNoneMatch: String?) {
        self.exchange = exchange
        self.context = context
        self.variant = variant
        self.includeBody = includeBody
        self.ifNoneMatch = ifNoneMatch
    }

    private var configuration: HerdConfiguration { context.configuration }

    // MARK: UpstreamResponseSink

    func receiveHead(_ head: UpstreamResponseHead) -> Bool {
        self.head = head
        if head.status == 200, (head.contentLength ?? 0) <= configuration.image.maxSourceBytes {
            mode = .sniffing
            return true
        }
        return startStreaming()
    }

    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        switch mode {
        case .awaitingHead:
            return false
        case .streaming:
            return includeBody ? exchange.write(chunk) : stopEarly()
        case .sniffing, .buffering:
            buffer.append(contentsOf: chunk)
            if mode == .sniffing, buffer.count >= Self.sniffLength {
                if buffer.withUnsafeBytes(ImageFormat.sniff) != nil {
                    mode = .buffering
                } else {
                    return startStreaming()
                }
            }
            if buffer.count > configuration.image.maxSourceBytes {
                return startStreaming()
            }
            return true
        }
    }

    /// After a transfer that ended well: answer from the buffer if we held
    /// the response back.
    func finish() {
        switch mode {
        case .sniffing, .buffering: respondWithImage()
        case .awaitingHead, .streaming: break
        }
    }

    // MARK: Passthrough

    /// Sends the origin's head (and whatever was buffered) and streams the rest.
    private func startStreaming() -> Bool {
        guard let head else { return false }
        let wasHolding = mode == .sniffing || mode == .buffering
        mode = .streaming
        var headers = ResponseHeaders.fromOrigin(head, configuration: configuration)
        ResponseHeaders.applyPassthroughCaching(status: head.status, headers: &headers, configuration: configuration)
        if let length = head.contentLength { headers.append(("Content-Length", String(length))) }
        if head.status == 200 { headers.append(("X-Herd-Variant", "orig")) }
        servedVariant = "orig"
        sentStatus = head.status
        exchange.writeHead(status: head.status, headers: headers)
        guard !exchange.peerGone else { return false }
        if wasHolding, !buffer.isEmpty {
            if !includeBody { return stopEarly() }
            let ok = exchange.write(buffer)
            buffer = []
            return ok
        }
        return includeBody || head.status != 200 ? true : stopEarly()
    }

    private func stopEarly() -> Bool {
        stoppedEarly = true
        return false
    }

    // MARK: Images

    private func respondWithImage() {
        guard let head else { return }
        guard let format = buffer.withUnsafeBytes(ImageFormat.sniff) else {
            // Not an image (or under 16 bytes): the original, as received.
            sendWhole(status: 200, body: buffer, contentType: nil, etag: head.value(of: "ETag"),
                      cacheControl: head.value(of: "Cache-Control"), served: "orig", head: head)
            return
        }
        let baseTag = ResponseHeaders.etagBase(head: head, source: buffer, variant: variant,
                                               settings: ImagePipeline(configuration).settings)
        if let ifNoneMatch, let matched = ResponseHeaders.matchingETag(ifNoneMatch, base: baseTag) {
            sendNotModified(etag: matched, head: head)
            return
        }

        guard ImageConversion.target(for: variant, source: format) != nil else {
            sendWhole(status: 200, body: buffer, contentType: format.mimeType, etag: head.value(of: "ETag"),
                      cacheControl: head.value(of: "Cache-Control"), served: "orig", head: head)
            return
        }
        let limiter = context.conversionLimiter
        switch limiter.acquire(timeout: configuration.image.timeout) {
        case .granted: break
        case .queueFull, .timedOut:
            note = "busy"
            context.metrics.conversionFinished(format: "none", result: "busy", seconds: nil)
            sendRefusal(status: 503, reason: "conversion_queue_full", cacheControl: "no-store", extra: [("Retry-After", "1")])
            return
        }
        let started = monotonicSeconds()
        let decision = ImageConversion(pipeline: context.pipeline).decide(source: buffer, format: format, variant: variant)
        limiter.release()
        let seconds = monotonicSeconds() - started

        switch decision {
        case .converted(let output):
            context.metrics.conversionFinished(format: output.format.rawValue, result: "converted", seconds: seconds)
            sendWhole(status: 200, body: output.bytes, contentType: output.format.mimeType,
                      etag: "\"\(baseTag)-\(output.format.rawValue)\"", cacheControl: nil,
                      served: output.format.rawValue, head: head)
        case .original(let reason, let shortLived):
            note = reason
            context.metrics.conversionFinished(format: "orig", result: reason ?? "original", seconds: seconds)
            sendWhole(status: 200, body: buffer, contentType: format.mimeType,
                      etag: reason == nil ? head.value(of: "ETag") : "\"\(baseTag)-orig\"",
                      cacheControl: shortLived ? ResponseHeaders.errorCacheControl(ttl: configuration.cache.errorTTL)
                          : reason == nil ? head.value(of: "Cache-Control") : nil,
                      served: "orig", head: head)
        case .refuse(let status, let reason):
            note = reason
            context.metrics.conversionFinished(format: "none", result: reason, seconds: seconds)
            sendRefusal(status: status, reason: reason,
                        cacheControl: ResponseHeaders.errorCacheControl(ttl: configuration.cache.errorTTL), extra: [])
        }
    }

    private func sendWhole(status: Int, body: [UInt8], contentType: String?, etag: String?, cacheControl: String?,
                           served: String, head: UpstreamResponseHead) {
        var headers = ResponseHeaders.fromOrigin(head, configuration: configuration, replacingRepresentation: true)
        headers.append(("Content-Type", contentType ?? head.value(of: "Content-Type") ?? "application/octet-stream"))
        headers.append(("Content-Length", String(body.count)))
        if let etag { headers.append(("ETag", etag)) }
        headers.append(("Cache-Control", cacheControl ?? ResponseHeaders.mediaCacheControl(origin: head, configuration: configuration)))
        // Lets nginx serve byte ranges of the cached object.
        headers.append(("Accept-Ranges", "bytes"))
        headers.append(("X-Herd-Variant", served))
        servedVariant = served
        sentStatus = status
        exchange.writeHead(status: status, headers: headers)
        if includeBody { exchange.write(body) }
    }

    private func sendNotModified(etag: String, head: UpstreamResponseHead) {
        var headers = ResponseHeaders.fromOrigin(head, configuration: configuration, replacingRepresentation: true)
        headers.append(("ETag", etag))
        headers.append(("Cache-Control", ResponseHeaders.mediaCacheControl(origin: head, configuration: configuration)))
        sentStatus = 304
        servedVariant = "orig"
        note = "not_modified"
        exchange.writeHead(status: 304, headers: headers)
    }

    private func sendRefusal(status: Int, reason: String, cacheControl: String, extra: [(name: String, value: String)]) {
        var headers: [(name: String, value: String)] = [
            ("Content-Type", "text/plain; charset=utf-8"), ("Cache-Control", cacheControl), ("X-Herd-Error", reason),
        ]
        headers += ResponseHeaders.common(configuration: configuration, varyWith: nil)
        headers += extra
        let body = "\(status) \(HTTPStatus.reasonPhrase(status))\n"
        sentStatus = status
        exchange.respond(status: status, headers: headers, body: body, includeBody: includeBody)
    }
}
