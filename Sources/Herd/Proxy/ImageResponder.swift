import Basics
import Coalescing
import FastCGI
import Imaging
import Negotiation
import Upstream

/// A whole origin response: what the source cache keeps and what a
/// coalesced fetch hands to every waiter.
struct SourceResponse: Sendable {
    var head: UpstreamResponseHead
    var body: [UInt8]
    /// What the bytes are, whatever the origin's ETag claims: part of every
    /// ETag and conversion key made from them. Computed when one is needed
    /// (a conversion, herd's own conditional), not for every original.
    var digest: UInt64 { SourceHash.fnv1a(body) }
}

/// Answers from a whole source response: the original, a conversion for
/// the variant (one per source and variant at a time, shared by concurrent
/// requests), a 304, or a refusal.
final class ImageResponder {
    private let exchange: FastCGIExchange
    private let context: WorkerContext
    private let variant: Variant
    private let includeBody: Bool
    private let ifNoneMatch: String?
    private(set) var sentStatus: Int?
    private(set) var servedVariant: String?
    /// Why an image was not converted, or why it was refused.
    private(set) var note: String?

    init(exchange: FastCGIExchange, context: WorkerContext, variant: Variant, includeBody: Bool, ifNoneMatch: String?) {
        self.exchange = exchange
        self.context = context
        self.variant = variant
        self.includeBody = includeBody
        self.ifNoneMatch = ifNoneMatch
    }

    private var configuration: HerdConfiguration { context.configuration }

    func respond(with source: SourceResponse, sourceKey: String) {
        let head = source.head
        let buffer = source.body
        guard let format = buffer.withUnsafeBytes(ImageFormat.sniff) else {
            // Not an image (or under 16 bytes): the original, as received.
            sendWhole(status: 200, body: buffer, contentType: nil, etag: head.value(of: "ETag"),
                      cacheControl: head.value(of: "Cache-Control"), served: "orig", head: head)
            return
        }
        let settings = context.pipeline.settings
        let variant = self.variant
        func makeBaseTag() -> String {
            ResponseHeaders.etagBase(sourceKey: sourceKey, length: buffer.count, digest: source.digest,
                                     variant: variant, settings: settings)
        }
        if let ifNoneMatch, let matched = ResponseHeaders.matchingETag(ifNoneMatch, base: makeBaseTag()) {
            sendNotModified(etag: matched, head: head)
            return
        }

        guard ImageConversion.target(for: variant, source: format) != nil else {
            sendWhole(status: 200, body: buffer, contentType: format.mimeType, etag: head.value(of: "ETag"),
                      cacheControl: head.value(of: "Cache-Control"), served: "orig", head: head)
            return
        }
        let baseTag = makeBaseTag()
        // One conversion per (source version, variant) at a time; requests
        // that arrive meanwhile share it, and only the one converting holds
        // a CPU slot.
        let started = MonotonicClock.now()
        let context = self.context
        let convert = { () -> Result<ImageConversion.Decision, any Error> in
            let limiter = context.conversionLimiter
            // Admitted by its estimated peak memory, read from the header
            // before any pixel is decoded. (A header that does not probe
            // fails the same way inside the pipeline, at no memory cost.)
            let bytes = ImageConversion(pipeline: context.pipeline).estimatedPeakBytes(source: buffer, variant: variant)
            switch limiter.acquire(bytes: bytes, timeout: context.configuration.image.timeout) {
            case .granted: break
            case .queueFull, .timedOut: return .failure(ConversionBusy())
            case .overBudget:
                return .success(ImageConversion.overBudget(format: format, variant: variant))
            }
            defer { limiter.release(bytes: bytes) }
            return .success(ImageConversion(pipeline: context.pipeline).decide(source: buffer, format: format, variant: variant))
        }
        let shared: Coalescer<ImageConversion.Decision>.Result
        if configuration.cache.singleFlight {
            shared = context.conversions.run(baseTag, deadline: started + configuration.image.timeout * 2, work: convert)
        } else {
            switch convert() {
            case .success(let value): shared = .value(value, coalesced: false)
            case .failure(let error): shared = .failure(error, coalesced: false)
            }
        }
        let seconds = MonotonicClock.now() - started
        let decision: ImageConversion.Decision
        switch shared {
        case .value(let value, let coalesced):
            decision = value
            if coalesced { context.metrics.coalesced(kind: "conversion") }
        case .failure, .timedOut:
            note = "busy"
            context.metrics.conversionFinished(format: "none", result: "busy", seconds: nil)
            sendRefusal(status: 503, reason: "conversion_queue_full", cacheControl: "no-store", extra: [("Retry-After", "1")])
            return
        }

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
        // A body that ended with the connection may have been cut: whatever
        // is made from it is short-lived.
        let cacheControl = head.closeDelimited ? ResponseHeaders.errorCacheControl(ttl: configuration.cache.errorTTL) : cacheControl
        headers.append(("Content-Type", contentType ?? head.value(of: "Content-Type") ?? "application/octet-stream"))
        headers.append(("Content-Length", String(body.count)))
        if let etag { headers.append(("ETag", etag)) }
        headers.append(("Cache-Control", cacheControl ?? ResponseHeaders.mediaCacheControl(origin: head, configuration: configuration)))
        // Lets nginx serve byte ranges of the cached object.
        headers.append(("Accept-Ranges", "bytes"))
        headers.append(("X-Herd-Variant", served))
        ResponseHeaders.addNginxLifetime(&headers, configuration: configuration)
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
        ResponseHeaders.addNginxLifetime(&headers, configuration: configuration)
        let body = "\(status) \(HTTPStatus.reasonPhrase(status))\n"
        sentStatus = status
        exchange.respond(status: status, headers: headers, body: body, includeBody: includeBody)
    }
}

/// The conversion queue was full.
struct ConversionBusy: Error {}
