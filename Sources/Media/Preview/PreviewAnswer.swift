import Basics
import Coalescing
import Imaging
import Negotiation
import Upstream
import System
import Settings

/// Why a preview was not made (the reason in the log and metrics).
struct PreviewFailure: Error {
    let reason: String
}

/// The answer to `/proxy/preview/…`, by Akkoma's rules: an image fitted
/// within `media_proxy.preview_max_dimension` in the client's variant
/// (AVIF or WebP, else JPEG, or PNG where transparency needs it), the first
/// frame of a GIF when `?static=true`, the first frame of a video (ffmpeg,
/// in a process of its own), and a 302 to the plain `/proxy/` URL for a
/// source too small to be worth it, an animation, or anything else.
struct PreviewAnswer {
    let context: WorkerContext

    private var configuration: HerdConfiguration { context.configuration }
    private var maker: PreviewMaker { context.previews }

    func reply(to request: MediaRequest, preview: PreviewRequest, from source: SourceResponse, sourceKey: String) -> Reply {
        let body = source.body
        let head = source.head
        let lifetime = head.value(of: "Cache-Control")
        if body.count < maker.minBytes {
            return finish(Self.redirect(to: preview.originalPath, reason: "small", configuration: configuration, cacheControl: lifetime))
        }
        let kind: PreviewKind
        if let format = ImageFormat.sniff(body) {
            guard maker.pipeline.limits.decodable.contains(format) else {
                // Its decoder is off (image.decode): the original, as Akkoma
                // does with what it cannot preview; the reason in the log.
                return finish(Self.redirect(to: preview.originalPath, reason: "decoder_off", configuration: configuration,
                                            cacheControl: lifetime))
            }
            guard let info = body.withUnsafeBytes({ try? Probe.run($0, limits: maker.pipeline.limits) }) else {
                return finish(Self.redirect(to: preview.originalPath, reason: "unreadable", configuration: configuration))
            }
            if info.isAnimated {
                // A static frame of a GIF only: giflib holds every frame
                // while decoding, so the frames count against the budget.
                guard format == .gif, preview.staticFrame else {
                    return finish(Self.redirect(to: preview.originalPath, reason: "animated", configuration: configuration,
                                                cacheControl: lifetime))
                }
                kind = .gifFirstFrame(info)
            } else {
                kind = .image(info)
            }
        } else if VideoFrame.looksLikeVideo(body, contentType: head.value(of: "Content-Type")), let video = maker.video {
            kind = .video(video)
        } else {
            return finish(Self.redirect(to: preview.originalPath, reason: "not_previewable", configuration: configuration,
                                        cacheControl: lifetime))
        }

        let variant = request.variant
        let base = ResponseHeaders.etagBase(sourceKey: sourceKey, length: body.count, digest: source.digest,
                                            variant: variant, settings: maker.pipeline.settings)
            + (preview.staticFrame ? "-static" : "")
        let started = MonotonicClock.now()
        switch make(kind, from: body, variant: variant, key: "preview " + base, started: started) {
        case .value(.success(let output), let coalesced):
            if coalesced { context.metrics.coalesced(kind: "conversion") }
            context.metrics.previewMade(source: kind.label, result: "made", seconds: MonotonicClock.now() - started)
            var headers = ResponseHeaders.fromOrigin(head, from: source.provenance, configuration: configuration, replacingRepresentation: true)
            headers.append(("Content-Type", output.format.mimeType))
            headers.append(("Content-Disposition", "inline; filename=\"preview.\(output.format.rawValue)\""))
            headers.append(("ETag", "\"\(base)-\(output.format.rawValue)\""))
            headers.append(("Cache-Control", ResponseHeaders.mediaCacheControl(origin: head, configuration: configuration,
                                                                               ttl: configuration.remote.cacheTTL)))
            headers.append(("Accept-Ranges", "bytes"))
            headers.append(("X-Herd-Variant", output.format.rawValue))
            return .whole(ReplyHead(status: 200, headers: headers, served: output.format.rawValue, note: "preview"), body: output.bytes)
        case .value(.failure(let failure), _):
            context.metrics.previewMade(source: kind.label, result: failure.reason, seconds: nil)
            // A source herd cannot preview may still be shown as it is. A
            // file that fails fails again: the redirect lives as long as the
            // source; a failure of the moment (time, memory) only briefly.
            let momentary = ["timeout", "over_memory_budget", "killed"].contains { failure.reason.contains($0) }
            return Self.redirect(to: preview.originalPath, reason: failure.reason, configuration: configuration,
                                 cacheControl: momentary ? nil : lifetime)
        case .failure, .timedOut:
            context.metrics.previewMade(source: kind.label, result: "busy", seconds: nil)
            return .failure(Refusal(status: 503, reason: "conversion_queue_full", retryAfter: 1))
        }
    }

    private enum PreviewKind {
        case image(SourceInfo)
        case gifFirstFrame(SourceInfo)
        case video(VideoFrame)

        var label: String {
            switch self {
            case .image: "image"
            case .gifFirstFrame: "gif_static"
            case .video: "video"
            }
        }
    }


    /// One preview per (source, variant) at a time, shared by concurrent
    /// requests, within the conversion slots and memory budget.
    private func make(_ kind: PreviewKind, from body: [UInt8], variant: Variant, key: String,
                      started: Double) -> Coalescer<Result<ImagePipeline.Output, PreviewFailure>>.Result {
        let context = self.context
        let maker = self.maker
        let work = { () -> Result<Result<ImagePipeline.Output, PreviewFailure>, any Error> in
            context.conversionLimiter.run(
                bytes: Self.estimatedPeakBytes(kind, sourceBytes: body.count, maker: maker, variant: variant),
                timeout: context.configuration.image.timeout,
                overBudget: { .failure(PreviewFailure(reason: "over_memory_budget")) }
            ) { Self.run(kind, from: body, variant: variant, maker: maker, metrics: context.metrics) }
        }
        return context.previewConversions.run(key, deadline: started + context.configuration.image.timeout * 2
                                                  + context.configuration.mediaProxy.videoFrameTimeout, work: work)
    }

    private static func run(_ kind: PreviewKind, from body: [UInt8], variant: Variant, maker: PreviewMaker,
                            metrics: any MediaMetrics) -> Result<ImagePipeline.Output, PreviewFailure> {
        var pipeline = maker.pipeline
        var source = body
        var hasAlpha: Bool
        switch kind {
        case .image(let info):
            hasAlpha = info.hasAlpha
        case .gifFirstFrame(let info):
            hasAlpha = info.hasAlpha
            pipeline.firstFrameOfAnimation = true
        case .video(let video):
            let started = MonotonicClock.now()
            switch video.firstFrame(of: body) {
            case .success(let png):
                metrics.videoFrameExtracted(result: "ok", seconds: MonotonicClock.now() - started)
                source = png
            case .failure(let failure):
                metrics.videoFrameExtracted(result: "failed", seconds: MonotonicClock.now() - started)
                return .failure(PreviewFailure(reason: "video_frame: \(failure.description)"))
            }
            hasAlpha = false
        }
        let format: OutputFormat = variant.still.map(ImageConversion.output) ?? (hasAlpha ? .png : .jpeg)
        do {
            return .success(try pipeline.convert(source, to: format))
        } catch {
            return .failure(PreviewFailure(reason: error.kind.rawValue))
        }
    }

    /// The conversion's estimate; a GIF's first frame also pays for every
    /// frame giflib holds, a video for its PNG frame.
    private static func estimatedPeakBytes(_ kind: PreviewKind, sourceBytes: Int, maker: PreviewMaker, variant: Variant) -> Int {
        let output: OutputFormat = variant.still.map(ImageConversion.output) ?? .jpeg
        switch kind {
        case .image(let info):
            return MemoryEstimate.peakBytes(info: info, sourceBytes: sourceBytes, output: output,
                                            maxDimension: maker.pipeline.maxDimension)
        case .gifFirstFrame(let info):
            return MemoryEstimate.peakBytes(info: info, sourceBytes: sourceBytes, output: output,
                                            maxDimension: maker.pipeline.maxDimension) + info.frames * info.pixelCount
        case .video:
            // ffmpeg's frame (its resident memory, in another process but
            // the same cgroup), then the PNG converted like any image.
            let side = maker.pipeline.maxDimension
            return VideoFrame.estimatedBytes(sourceBytes: sourceBytes) + side * side * 24
        }
    }

    private func finish(_ reply: Reply) -> Reply {
        if case .whole(let head, _) = reply, head.status == 302 {
            context.metrics.previewMade(source: "any", result: head.note ?? "redirect", seconds: nil)
        }
        return reply
    }

    /// 302 to the plain `/proxy/` URL. Lives as long as the source when
    /// the reason is the source itself; briefly when it was herd's failure.
    static func redirect(to path: String, reason: String, configuration: HerdConfiguration, cacheControl: String? = nil) -> Reply {
        var headers: HTTPHeaders = [("Location", path)]
        headers.append(("Cache-Control", cacheControl ?? ResponseHeaders.errorCacheControl(ttl: configuration.cache.errorTTL)))
        headers += ResponseHeaders.common(configuration: configuration, varyWith: nil)
        return .whole(ReplyHead(status: 302, headers: headers, served: "redirect", note: "preview_" + reason), body: [])
    }
}
