import Basics
import Coalescing
import Imaging
import Negotiation
import Upstream
import System
import Settings

/// The answer step: from a whole source to the reply for this request's
/// variant. The original, a conversion (one per source and variant at a
/// time, shared by concurrent requests), a 304 to one of herd's ETags, or
/// a refusal.
struct ImageAnswer {
    let context: WorkerContext
    /// The lifetime of what herd makes when the source does not say less:
    /// the nginx location's (`HERD_TTL`), else `cache.ttl` for the origin's
    /// media and `remote.cache_ttl` for a remote's.
    var lifetime: Int? = nil

    private var configuration: HerdConfiguration { context.configuration }

    func reply(to request: MediaRequest, from source: SourceResponse, sourceKey: String) -> Reply {
        let head = source.head
        let body = source.body
        guard let format = body.withUnsafeBytes(ImageFormat.sniff) else {
            // Not an image (or under 16 bytes): the original, as received,
            // with the disposition it came with (a remote's attachment).
            return whole(body, contentType: nil, etag: head.value(of: "ETag"),
                         cacheControl: originCacheControl(head), served: "orig", note: nil, from: source,
                         disposition: head.value(of: "Content-Disposition"))
        }
        guard context.pipeline.limits.decodable.contains(format) else {
            // Its decoder is turned off (image.decode): the original as it
            // came, for the clients that can show it, as long as any original.
            context.metrics.conversionFinished(format: "none", result: "decoder_off", seconds: nil)
            return whole(body, contentType: format.mimeType, etag: head.value(of: "ETag"),
                         cacheControl: originCacheControl(head), served: "orig", note: "decoder_off", from: source)
        }
        let variant = request.variant
        let settings = context.pipeline.settings
        func makeBaseTag() -> String {
            ResponseHeaders.etagBase(sourceKey: sourceKey, length: body.count, digest: source.digest,
                                     variant: variant, settings: settings)
        }
        var optimizedOffer: OptimizedStore.Answer? = nil
        if let ifNoneMatch = request.ownIfNoneMatch,
           let matched = ResponseHeaders.matchingETag(ifNoneMatch, base: makeBaseTag()) {
            // A first answer revalidated after its short lifetime: asked
            // for again, so worth optimizing; and if that is done, the
            // optimized answer replaces it (a 200, below).
            var shortLifetime: Int? = nil
            // An optimized answer's tag is current only with the present
            // settings (target, version) and its answer still stored: any
            // other is answered in full, never renewed by a 304.
            var outdated = Optimizer.isOptimized(matched)
            if let optimizer = context.optimizer {
                let key = OptimizationKey(source: sourceKey, tag: makeBaseTag())
                if Optimizer.isFirst(matched) {
                    if let stored = optimizer.stored(key) {
                        optimizedOffer = stored
                    } else if !optimizer.settledWithoutAnswer(key), let first = firstLifetime(head, optimizer) {
                        sightFirstAnswer(key, body: body, format: format, variant: variant, firstBytes: nil)
                        shortLifetime = first
                    }
                } else if outdated {
                    outdated = !(matched.hasSuffix("-" + optimizer.settingsMark + "\"") && optimizer.stored(key) != nil)
                }
            }
            if optimizedOffer == nil, !outdated {
                var headers = ResponseHeaders.fromOrigin(head, from: source.provenance, configuration: configuration, replacingRepresentation: true)
                headers.append(("ETag", matched))
                headers.append(("Cache-Control", shortLifetime.map { "public, max-age=\($0)" }
                    ?? ResponseHeaders.mediaCacheControl(origin: head, configuration: configuration, ttl: lifetime)))
                return .notModified(ReplyHead(status: 304, headers: headers, served: "orig", note: "not_modified"))
            }
        }
        // The header, read once: whether it is an animation (a GIF's block
        // structure, WebP's and APNG's flags, an AVIF's image count) and the
        // conversion's memory estimate. A header over the caps is not
        // converted anyway.
        let info = body.withUnsafeBytes { try? Probe.run($0, limits: context.pipeline.limits) }
        let animated = info?.isAnimated ?? false
        guard let target = ImageConversion.target(for: variant, source: format, animated: animated) else {
            return whole(body, contentType: format.mimeType, etag: head.value(of: "ETag"),
                         cacheControl: originCacheControl(head), served: "orig", note: nil, from: source)
        }

        let baseTag = makeBaseTag()
        // An optimized answer made before: served as it was stored, with the
        // full lifetime and its own ETag.
        let optimizable = context.optimizer != nil && !animated && target != .png
        let key = OptimizationKey(source: sourceKey, tag: baseTag)
        if optimizable, let optimizer = context.optimizer, let stored = optimizedOffer ?? optimizer.stored(key),
           stored.outputFormat == target {
            context.metrics.answerServed("optimized")
            return whole(stored.body, contentType: target.mimeType, etag: optimizer.etag(base: baseTag, format: target),
                         cacheControl: nil, served: target.rawValue, note: "optimized", from: source)
        }
        let started = MonotonicClock.now()
        let decision: ImageConversion.Decision
        switch convert(body, info: info, format: format, variant: variant, key: baseTag, started: started) {
        case .value(let value, let coalesced):
            decision = value
            if coalesced { context.metrics.coalesced(kind: "conversion") }
        case .failure, .timedOut:
            context.metrics.conversionFinished(format: "none", result: "busy", seconds: nil)
            return .failure(Refusal(status: 503, reason: "conversion_queue_full", retryAfter: 1))
        }
        let seconds = MonotonicClock.now() - started

        switch decision {
        case .converted(let output):
            context.metrics.conversionFinished(format: output.format.rawValue, result: "converted", seconds: seconds)
            // Worth optimizing: a short lifetime, and remembered (queued
            // when asked for again after it).
            // (Not when it was optimized already and nothing better was
            // found, nor when the origin's lifetime forbids it.)
            if optimizable, let optimizer = context.optimizer, output.format == target, output.bytes.count >= optimizer.minBytes,
               !optimizer.settledWithoutAnswer(key), let first = firstLifetime(head, optimizer) {
                sightFirstAnswer(key, body: body, format: format, variant: variant, firstBytes: output.bytes.count)
                context.metrics.answerServed("first")
                return whole(output.bytes, contentType: output.format.mimeType, etag: Optimizer.firstETag(base: baseTag, format: target),
                             cacheControl: "public, max-age=\(first)", served: output.format.rawValue,
                             note: "first", from: source)
            }
            return whole(output.bytes, contentType: output.format.mimeType, etag: "\"\(baseTag)-\(output.format.rawValue)\"",
                         cacheControl: nil, served: output.format.rawValue, note: nil, from: source)
        case .original(let reason, let shortLived):
            context.metrics.conversionFinished(format: "orig", result: reason ?? "original", seconds: seconds)
            return whole(body, contentType: format.mimeType,
                         etag: reason == nil ? head.value(of: "ETag") : "\"\(baseTag)-orig\"",
                         cacheControl: shortLived ? ResponseHeaders.errorCacheControl(ttl: configuration.cache.errorTTL)
                             : reason == nil ? originCacheControl(head) : nil,
                         served: "orig", note: reason, from: source)
        case .refuse(let status, let reason):
            context.metrics.conversionFinished(format: "none", result: reason, seconds: seconds)
            return .failure(Refusal(status: status, reason: reason))
        }
    }

    /// A first answer's lifetime: `optimizer.first_ttl`, or the answer's own
    /// when shorter; nil when the origin forbids shared caches (private,
    /// no-store) or allows no lifetime: such an answer is never a first one.
    private func firstLifetime(_ head: UpstreamResponseHead, _ optimizer: Optimizer) -> Int? {
        guard let full = ResponseHeaders.mediaLifetime(origin: head, configuration: configuration, ttl: lifetime), full > 0 else {
            return nil
        }
        return min(optimizer.firstLifetime, full)
    }

    /// Tells the optimizer a first answer was asked for; the job (made only
    /// when it is queued) holds the source and what to make of it.
    private func sightFirstAnswer(_ key: OptimizationKey, body: [UInt8], format: ImageFormat, variant: Variant, firstBytes: Int?) {
        guard let optimizer = context.optimizer else { return }
        let pipeline = context.pipeline
        optimizer.sighted(key) {
            let info = body.withUnsafeBytes { try? Probe.run($0, limits: pipeline.limits) }
            guard let info, !info.isAnimated, let target = ImageConversion.target(for: variant, source: format, animated: false) else {
                return nil
            }
            // One step: a conversion, or an encode at the slower settings
            // with its decode and the SSIMULACRA 2 score of the output size.
            let peak = ImageConversion(pipeline: pipeline).estimatedPeakBytes(info: info, sourceBytes: body.count, variant: variant)
            let side = pipeline.maxDimension
            let (width, height) = side > 0 ? FitBox(width: side, height: side).fitted(width: info.width, height: info.height)
                : (info.width, info.height)
            return Optimizer.Job(source: body, format: target, graphic: format == .png || format == .gif, firstBytes: firstBytes,
                                 estimatedPeakBytes: peak + SSIMULACRA2.peakBytes(width: width, height: height))
        }
    }

    /// One conversion per (source version, variant) at a time: requests that
    /// arrive meanwhile share it, and only the one converting holds a CPU
    /// slot. Admitted by its estimated peak memory, read from the header
    /// before any pixel is decoded.
    private func convert(_ body: [UInt8], info: SourceInfo?, format: ImageFormat, variant: Variant, key: String,
                         started: Double) -> Coalescer<ImageConversion.Decision>.Result {
        let context = self.context
        let work = { () -> Result<ImageConversion.Decision, any Error> in
            let conversion = ImageConversion(pipeline: context.pipeline)
            return context.conversionLimiter.run(
                bytes: conversion.estimatedPeakBytes(info: info, sourceBytes: body.count, variant: variant),
                timeout: context.configuration.image.timeout,
                overBudget: { ImageConversion.overBudget(format: format, variant: variant) }
            ) { conversion.decide(source: body, format: format, variant: variant, animated: info?.isAnimated ?? false) }
        }
        guard configuration.cache.singleFlight else {
            switch work() {
            case .success(let value): return .value(value, coalesced: false)
            case .failure(let error): return .failure(error, coalesced: false)
            }
        }
        return context.conversions.run(key, deadline: started + configuration.image.timeout * 2, work: work)
    }

    /// The origin's own Cache-Control for a body served as it came; where
    /// the nginx location sent a lifetime, no longer than that (nor than the
    /// origin's own), so what nginx and browsers keep is what the location says.
    private func originCacheControl(_ head: UpstreamResponseHead) -> String? {
        guard let lifetime, let value = head.value(of: "Cache-Control"), !CacheControl.forbidsSharedCache(value) else {
            return head.value(of: "Cache-Control")
        }
        return ResponseHeaders.mediaCacheControl(origin: head, configuration: configuration, ttl: lifetime)
    }

    private func whole(_ body: [UInt8], contentType: String?, etag: String?, cacheControl: String?,
                       served: String, note: String?, from source: SourceResponse, disposition: String? = nil) -> Reply {
        let head = source.head
        var headers = ResponseHeaders.fromOrigin(head, from: source.provenance, configuration: configuration, replacingRepresentation: true)
        // A body that ended with the connection may have been cut: whatever
        // is made from it is short-lived.
        let cacheControl = head.closeDelimited ? ResponseHeaders.errorCacheControl(ttl: configuration.cache.errorTTL) : cacheControl
        headers.append(("Content-Type", contentType ?? head.value(of: "Content-Type") ?? "application/octet-stream"))
        if let disposition { headers.append(("Content-Disposition", disposition)) }
        if let etag { headers.append(("ETag", etag)) }
        headers.append(("Cache-Control", cacheControl ?? ResponseHeaders.mediaCacheControl(origin: head, configuration: configuration,
                                                                                           ttl: lifetime)))
        // Lets nginx serve byte ranges of the cached object.
        headers.append(("Accept-Ranges", "bytes"))
        headers.append(("X-Herd-Variant", served))
        return .whole(ReplyHead(status: 200, headers: headers, served: served, note: note), body: body)
    }
}
