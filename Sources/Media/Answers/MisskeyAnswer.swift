import Basics
import Coalescing
import Imaging
import Negotiation
import Upstream
import System
import Settings

/// The answer to a Misskey media-proxy request (`MisskeyRequest`), by
/// misskey-dev/media-proxy's SPECIFICATION.md where it speaks:
///
/// - no transform: an image or a browser-safe file as it is (an image in
///   the variant the client takes, when that is smaller: herd does better
///   than the reference here), anything else 403, SVG never as SVG;
/// - `emoji` (height ≤ 128), `avatar` (height ≤ 320), `static` (the first
///   frame; fit 498×422, or the emoji/avatar height), `preview` (fit
///   200×200), never scaled up; animations stay animated unless `static`
///   (a GIF, or an animated WebP or APNG to resize, as an AVIF sequence or
///   animated WebP — the reference makes APNGs still; an AVIF sequence as
///   it is); `badge`: a 96×96 PNG
///   whose image is in its alpha channel only; a source that cannot be
///   converted: 404;
/// - success `Cache-Control: max-age=31536000, immutable`, errors
///   `max-age=300`, the specification's Content-Security-Policy, an inline
///   Content-Disposition with the source's name and the right extension;
///   `fallback`: the placeholder image instead of an error, `max-age=300`.
///
/// The format is negotiated (AVIF, WebP, JPEG XL by `image.formats`, WebP
/// for a client that names none, as the reference always answers), with
/// `Vary: Accept`; `misskey.webp_always` answers WebP whatever the Accept,
/// without Vary, for CDNs that key on the URL alone.
struct MisskeyAnswer {
    let context: WorkerContext

    static let contentSecurityPolicy = "default-src 'none'; img-src 'self'; media-src 'self'; style-src 'unsafe-inline'"
    static let successCacheControl = "max-age=31536000, immutable"
    /// What every error answer of this route carries.
    static let errorHeaders: HTTPHeaders = [("Cache-Control", "max-age=300"), ("Access-Control-Allow-Origin", "*")]

    /// misskey-dev/media-proxy's FILE_TYPE_BROWSERSAFE: what is served as
    /// it is when it is not an image herd reads (SVG is not in it).
    static let browserSafe: Set<String> = [
        "image/png", "image/gif", "image/jpeg", "image/webp", "image/avif", "image/apng", "image/bmp", "image/tiff",
        "image/x-icon", "audio/opus", "video/ogg", "audio/ogg", "application/ogg", "video/quicktime", "video/mp4",
        "audio/mp4", "video/x-m4v", "audio/x-m4a", "video/3gpp", "video/3gpp2", "video/mpeg", "audio/mpeg",
        "video/webm", "audio/webm", "audio/aac", "audio/flac", "audio/wav", "audio/x-flac", "audio/vnd.wave",
    ]

    private var configuration: HerdConfiguration { context.configuration }

    func reply(to request: MediaRequest, misskey: MisskeyRequest, from source: SourceResponse, sourceKey: String) -> Reply {
        let reply = answer(request, misskey, source, sourceKey)
        if case .failure(let failure) = reply { return Self.failed(failure, misskey: misskey, configuration: configuration) }
        return reply
    }

    /// An error, or the placeholder when the request asked for `fallback`.
    static func failed(_ failure: any HTTPFailure, misskey: MisskeyRequest?, configuration: HerdConfiguration) -> Reply {
        // A failure of the moment (busy, a wait that timed out: it says when
        // to retry) and a refusal that depends on who asks are never stored.
        let momentary = failure.retryAfter != nil || failure.reason == "origin_not_allowed"
        guard let misskey, misskey.fallback else {
            if failure.headers.contains(where: { $0.name == "Cache-Control" }) { return .failure(failure) }
            return .failure(Refusal(status: failure.status, reason: failure.reason, detail: failure.detail,
                                    retryAfter: failure.retryAfter,
                                    headers: failure.headers + (momentary ? [("Cache-Control", "no-store"), ("Access-Control-Allow-Origin", "*")]
                                                                         : errorHeaders)))
        }
        var headers: HTTPHeaders = [("Content-Type", "image/png"), ("Cache-Control", momentary ? "no-store" : "max-age=300")]
        headers += commonHeaders(configuration: configuration, vary: false)
        headers.append(("Content-Disposition", "inline; filename=\"dummy.png\""))
        headers.append(("X-Herd-Variant", "png"))
        return .whole(ReplyHead(status: 200, headers: headers, served: "png", note: "fallback_" + failure.reason), body: Placeholder.png)
    }

    /// `cap`: the largest size an answer may have when no preset says
    /// (an SVG's raster: 2048×2048).
    private func answer(_ request: MediaRequest, _ misskey: MisskeyRequest, _ source: SourceResponse, _ sourceKey: String,
                        cap: FitBox? = nil) -> Reply {
        let body = source.body
        guard let format = body.withUnsafeBytes(ImageFormat.sniff) else {
            if cap == nil, SVGRaster.looksLikeSVG(body, contentType: source.head.value(of: "Content-Type")) {
                return svg(request, misskey, source, sourceKey)
            }
            guard !misskey.transforms else { return .failure(Refusal(status: 404, reason: "not_an_image")) }
            return asItIs(request, misskey, source)
        }
        let decodable = context.pipeline.limits.decodable.contains(format)
        guard let info = body.withUnsafeBytes({ try? Probe.run($0, limits: context.pipeline.limits) }) else {
            if !decodable, misskey.transforms {
                return .failure(Refusal(status: 415, reason: "decoder_off", detail: "decoding \(format.rawValue) is turned off (image.decode)"))
            }
            // An SVG's raster over the caps: never served raw.
            if cap != nil { return .failure(Refusal(status: 415, reason: "svg_too_large")) }
            // An animation over the caps on frames: as it is, as herd served
            // every APNG and animated WebP before it could resize them.
            var animationUncapped = context.pipeline.limits
            (animationUncapped.maxFrames, animationUncapped.maxAnimationPixels) = (Int.max, Int.max)
            if decodable, let uncapped = body.withUnsafeBytes({ try? Probe.run($0, limits: animationUncapped) }), uncapped.isAnimated,
               Self.displayable(format, variant: request.variant, webpAlways: configuration.misskey.webpAlways) {
                return asItIs(request, misskey, source, contentType: format.mimeType, note: "animation_over_caps")
            }
            // Unreadable or over the caps: as it is when nothing was to be
            // done to it, else the specification's 404.
            return misskey.transforms ? .failure(Refusal(status: 404, reason: "not_convertible")) : asItIs(request, misskey, source)
        }
        let presets = misskey.presets
        let still = presets.contains(.static) || presets.contains(.preview) || presets.contains(.badge)
        if presets.contains(.badge), !(presets.contains(.emoji) || presets.contains(.avatar) || presets.contains(.static)
                                       || presets.contains(.preview)) {
            return convert(request, misskey, source, sourceKey, info: info, plan: .badge)
        }
        let box: FitBox?
        if presets.contains(.emoji) || presets.contains(.avatar) {
            box = FitBox(width: 0, height: presets.contains(.emoji) ? 128 : 320)
        } else if presets.contains(.static) {
            box = FitBox(width: 498, height: 422)
        } else if presets.contains(.preview) {
            box = FitBox(width: 200, height: 200)
        } else if let cap, cap.fitted(width: info.width, height: info.height) != (info.width, info.height) {
            box = cap
        } else {
            box = nil
        }
        let animated = info.isAnimated && !still
        let shrinks = box.map { $0.fitted(width: info.width, height: info.height) != (info.width, info.height) } ?? false
        if animated, !ImagePipeline.animates(format) || (format != .gif && !shrinks) {
            // An AVIF sequence: herd re-encodes GIF, WebP and PNG animations
            // only, so it goes as it is rather than lose its motion. An
            // animated WebP or APNG that needs no resizing goes as it is
            // too: every client of this route shows both.
            return asItIs(request, misskey, source, contentType: format.mimeType, note: "animation_as_is")
        }
        let output: OutputFormat
        if configuration.misskey.webpAlways {
            output = .webp
        } else if animated {
            output = request.variant.animation.map(ImageConversion.output) ?? .webp
        } else {
            output = request.variant.still.map(ImageConversion.output) ?? .webp
        }
        if box == nil, !animated, !info.isAnimated || still, ImageConversion.target(for: request.variant, source: format) == nil,
           !configuration.misskey.webpAlways || format == .webp {
            // Nothing to transform, and the client shows the source as it is.
            return asItIs(request, misskey, source, contentType: format.mimeType)
        }
        return convert(request, misskey, source, sourceKey, info: info,
                       plan: .image(box: box, firstFrame: !animated, output: output, keepSmallerSource: box == nil && !info.isAnimated))
    }

    /// An SVG: rasterized at its own size in a child process (SVGRaster),
    /// then answered as that PNG would be, at most 2048×2048 (the
    /// reference's cap); never served as SVG.
    private func svg(_ request: MediaRequest, _ misskey: MisskeyRequest, _ source: SourceResponse, _ sourceKey: String) -> Reply {
        guard let raster = context.svgRaster else {
            return .failure(Refusal(status: 415, reason: "svg_not_served",
                                    detail: "SVG is never served as SVG, and misskey.svg_rasterizer is off"))
        }
        let started = MonotonicClock.now()
        // The child's memory is the worker's cgroup's too: counted in the budget.
        let ran = context.conversionLimiter.run(bytes: SVGRaster.memoryLimit, timeout: configuration.image.timeout,
                                                overBudget: { Result<[UInt8], SVGRaster.Failure>.failure(.init(description: "over the memory budget")) }) {
            raster.rasterize(source.body)
        }
        guard case .success(let rasterized) = ran, case .success(let png) = rasterized else {
            let why: String
            switch ran {
            case .success(.failure(let failure)): why = failure.description
            case .failure(let error): why = "\(error)"
            default: why = "?"
            }
            context.metrics.conversionFinished(format: "png", result: "svg_failed", seconds: MonotonicClock.now() - started)
            return .failure(Refusal(status: 415, reason: "svg_failed", detail: String(why.prefix(200))))
        }
        context.metrics.conversionFinished(format: "png", result: "svg_rasterized", seconds: MonotonicClock.now() - started)
        var rasterSource = source
        rasterSource.body = png
        rasterSource.head.headers.removeAll { $0.name.caseInsensitiveEquals("Content-Type") }
        rasterSource.head.headers.append(("Content-Type", "image/png"))
        return answer(request, misskey, rasterSource, sourceKey + " svg", cap: FitBox(width: 2048, height: 2048))
    }

    /// Whether a client with this variant shows `format` as it is (the
    /// rule every answer uses, `ImageConversion.canDisplay`); with
    /// webp_always the answer does not vary, so only what every client shows.
    static func displayable(_ format: ImageFormat, variant: Variant, webpAlways: Bool) -> Bool {
        webpAlways ? [.jpeg, .png, .gif, .webp].contains(format) : ImageConversion.canDisplay(format, variant: variant)
    }

    private enum Plan {
        case badge
        case image(box: FitBox?, firstFrame: Bool, output: OutputFormat, keepSmallerSource: Bool)

        var label: String {
            switch self {
            case .badge: "badge"
            case .image(let box, let firstFrame, let output, _):
                "\(box.map { "\($0.width)x\($0.height)" } ?? "full")-\(firstFrame ? "still" : "anim")-\(output.rawValue)"
            }
        }
    }

    private func convert(_ request: MediaRequest, _ misskey: MisskeyRequest, _ source: SourceResponse, _ sourceKey: String,
                         info: SourceInfo, plan: Plan) -> Reply {
        let body = source.body
        var configured = context.pipeline
        let estimateOutput: OutputFormat
        switch plan {
        case .badge:
            configured.firstFrameOfAnimation = true
            estimateOutput = .png
        case .image(let box, let firstFrame, let output, _):
            configured.fitBox = box
            configured.firstFrameOfAnimation = firstFrame
            estimateOutput = output
        }
        let pipeline = configured
        var peak = MemoryEstimate.peakBytes(info: info, sourceBytes: body.count, output: estimateOutput, maxDimension: pipeline.maxDimension)
        if info.format == .gif { peak += info.frames * info.pixelCount }
        let base = ResponseHeaders.etagBase(sourceKey: sourceKey, length: body.count, digest: source.digest,
                                            variant: request.variant, settings: pipeline.settings)
        let key = "misskey \(plan.label) \(base)"
        let context = self.context
        let started = MonotonicClock.now()
        let work = { () -> Result<Result<ImagePipeline.Output, PreviewFailure>, any Error> in
            context.conversionLimiter.run(bytes: peak, timeout: context.configuration.image.timeout,
                                          overBudget: { .failure(PreviewFailure(reason: "over_memory_budget")) }) {
                do throws(ImageError) {
                    switch plan {
                    case .badge:
                        guard let badge = try pipeline.badge(body) else { return .failure(PreviewFailure(reason: "badge_without_information")) }
                        return .success(badge)
                    case .image(_, _, let output, _):
                        return .success(try pipeline.convert(body, to: output))
                    }
                } catch {
                    return .failure(PreviewFailure(reason: error.kind.rawValue))
                }
            }
        }
        let result = context.previewConversions.run(key, deadline: started + context.configuration.image.timeout * 2, work: work)
        switch result {
        case .value(.success(let output), let coalesced):
            if coalesced { context.metrics.coalesced(kind: "conversion") }
            context.metrics.conversionFinished(format: output.format.rawValue, result: "misskey_" + plan.label.split(separator: "-")[0],
                                               seconds: MonotonicClock.now() - started)
            if case .image(_, _, _, true) = plan, output.bytes.count >= body.count,
               Self.displayable(info.format, variant: request.variant, webpAlways: configuration.misskey.webpAlways) {
                // Never worse: the source when the conversion is not smaller
                // and the client shows the source's format.
                return asItIs(request, misskey, source, contentType: info.format.mimeType)
            }
            return made(output.bytes, contentType: output.format.mimeType, extension: output.format.fileExtension,
                        etag: "\"\(base)-mk-\(plan.label)\"", served: output.format.rawValue, misskey: misskey, source: source,
                        note: "misskey_" + plan.label)
        case .value(.failure(let failure), _):
            context.metrics.conversionFinished(format: "none", result: failure.reason, seconds: nil)
            let status = failure.reason == "badge_without_information" || failure.reason == "corrupt" ? 404
                : failure.reason == ImageError.Kind.decoderOff.rawValue ? 415 : 500
            return .failure(Refusal(status: status, reason: failure.reason))
        case .failure, .timedOut:
            return .failure(Refusal(status: 503, reason: "conversion_queue_full", retryAfter: 1))
        }
    }

    /// The file as it came: an image herd read, or a browser-safe type by
    /// the remote's own Content-Type; SVG and anything else refused.
    private func asItIs(_ request: MediaRequest, _ misskey: MisskeyRequest, _ source: SourceResponse,
                        contentType known: String? = nil, note: String? = nil) -> Reply {
        let claimed = (source.head.value(of: "Content-Type") ?? "").split(separator: ";")[0]
            .trimmingCharacters(in: .whitespaces).lowercased()
        let type = known ?? claimed
        if known == nil {
            if SVGRaster.looksLikeSVG(source.body, contentType: type) {
                return .failure(Refusal(status: 415, reason: "svg_not_served",
                                        detail: "SVG is never served as SVG and herd does not rasterize it"))
            }
            guard Self.browserSafe.contains(type) else {
                return .failure(Refusal(status: 403, reason: "rejected_type", detail: "\(type.prefix(80)) is not browser-safe"))
            }
        }
        let ext = ImageFormat.allCases.first { $0.mimeType == type }?.fileExtension ?? Self.extensionByType[type]
        return made(source.body, contentType: type, extension: ext, etag: nil, served: "orig", misskey: misskey, source: source,
                    note: note ?? "misskey_as_is")
    }

    private func made(_ body: [UInt8], contentType: String, extension ext: String?, etag: String?, served: String,
                      misskey: MisskeyRequest, source: SourceResponse, note: String) -> Reply {
        var headers: HTTPHeaders = [("Content-Type", contentType)]
        // A body that ended with the connection may have been cut: short-lived.
        headers.append(("Cache-Control", source.head.closeDelimited ? "max-age=300" : Self.successCacheControl))
        headers.append(("Content-Disposition", Self.disposition(Self.filename(misskey: misskey, extension: ext))))
        if let etag { headers.append(("ETag", etag)) }
        headers += Self.commonHeaders(configuration: configuration, vary: !configuration.misskey.webpAlways)
        headers.append(("X-Herd-Variant", served))
        return .whole(ReplyHead(status: 200, headers: headers, served: served, note: note), body: body)
    }

    static func commonHeaders(configuration: HerdConfiguration, vary: Bool) -> HTTPHeaders {
        var headers: HTTPHeaders = vary ? [("Vary", "Accept")] : []
        headers += ResponseHeaders.via(configuration)
        headers.append(("X-Content-Type-Options", "nosniff"))
        headers.append(("Content-Security-Policy", contentSecurityPolicy))
        headers.append(("Access-Control-Allow-Origin", "*"))
        return headers
    }

    static let extensionByType: [String: String] = [
        "image/apng": "apng", "image/bmp": "bmp", "image/tiff": "tiff", "image/x-icon": "ico", "audio/opus": "opus",
        "video/ogg": "ogv", "audio/ogg": "ogg", "application/ogg": "ogx", "video/quicktime": "mov", "video/mp4": "mp4",
        "audio/mp4": "m4a", "video/x-m4v": "m4v", "audio/x-m4a": "m4a", "video/3gpp": "3gp", "video/3gpp2": "3g2",
        "video/mpeg": "mpg", "audio/mpeg": "mp3", "video/webm": "webm", "audio/webm": "weba", "audio/aac": "aac",
        "audio/flac": "flac", "audio/wav": "wav", "audio/x-flac": "flac", "audio/vnd.wave": "wav",
    ]

    /// The source's name (the URL's last segment, decoded: the remote's own
    /// Content-Disposition never gets past `RemoteHead`), its extension made
    /// the served one's, as the reference's `correctFilename` does
    /// (".unknown" when there is none).
    static func filename(misskey: MisskeyRequest, extension ext: String?) -> String {
        let path = misskey.url.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        let last = path.split(separator: "/", omittingEmptySubsequences: false).last.map(String.init) ?? ""
        var name = PercentEncoding.decode(last) ?? last
        if name.isEmpty || name.contains("://") { name = "file" }
        // Bounded: a 4 KB segment must not make a header nginx cannot read.
        if name.count > 100 { name = String(name.prefix(100)) }
        let dotted = "." + (ext ?? "unknown")
        if name.hasSuffix(dotted) || (ext == "jpg" && name.hasSuffix(".jpeg")) || (ext == "tiff" && name.hasSuffix(".tif")) {
            return name
        }
        return name + dotted
    }

    /// `inline; filename="<ASCII fallback>"; filename*=UTF-8''<encoded>`,
    /// the fallback with every character but word characters, `.` and `-`
    /// replaced by `_` (content-disposition's, as the reference calls it).
    static func disposition(_ name: String) -> String {
        let fallback = String(name.unicodeScalars.map { scalar -> Character in
            let c = Character(scalar)
            return scalar.isASCII && (c.isLetter || c.isNumber || c == "_" || c == "." || c == "-") ? c : "_"
        })
        if fallback == name { return "inline; filename=\"\(name)\"" }
        return "inline; filename=\"\(fallback)\"; filename*=UTF-8''\(PercentEncoding.encode(name))"
    }

}

/// The placeholder image `fallback` answers with: colour bars, as the
/// reference's `dummy.png`.
enum Placeholder {
    static let png: [UInt8] = {
        let width = 160, height = 90
        let bars: [(UInt8, UInt8, UInt8)] = [(192, 192, 192), (192, 192, 0), (0, 192, 192), (0, 192, 0),
                                             (192, 0, 192), (192, 0, 0), (0, 0, 192)]
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        for y in 0..<height {
            for x in 0..<width {
                let bar = bars[x * bars.count / width]
                let index = (y * width + x) * 3
                (pixels[index], pixels[index + 1], pixels[index + 2]) = bar
            }
        }
        let image = RasterImage(width: width, height: height, channels: 3, pixels: pixels)
        return (try? ImagePipeline().encode(image, to: .png, graphic: true)) ?? []
    }()
}
