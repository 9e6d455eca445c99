import Basics
import System
#if canImport(Glibc)
import Glibc
#endif

/// The whole conversion as small named steps: probe → decode → orient →
/// fit → encode. No I/O: bytes in, bytes out. The time budget is checked
/// between steps (an encoder cannot be interrupted midway, so one step can
/// overrun it; the budget bounds everything after).
public struct ImagePipeline: Sendable {
    public var settings: EncoderSettings
    public var limits: ImageLimits
    /// Longest side of the output; 0 = keep the size.
    public var maxDimension: Int
    /// Seconds one conversion may take.
    public var timeBudget: Double
    /// Decode an animated GIF's first frame as a still (previews with
    /// `?static=true`); otherwise animations are refused as unsupported.
    public var firstFrameOfAnimation = false
    /// A box to fit within besides `maxDimension` (Misskey's presets).
    public var fitBox: FitBox? = nil
    /// Decodes HEIC/HEIF instead of libheif in this process (a worker runs
    /// it in a bounded child: libheif cannot be trusted with a hostile file's
    /// memory or time). nil decodes in process.
    public var heifDecoder: (@Sendable (UnsafeRawBufferPointer, SourceInfo) throws(ImageError) -> RasterImage)?

    public init(settings: EncoderSettings = EncoderSettings(), limits: ImageLimits = ImageLimits(),
                maxDimension: Int = 0, timeBudget: Double = 10) {
        self.settings = settings
        self.limits = limits
        self.maxDimension = maxDimension
        self.timeBudget = timeBudget
    }

    public struct Output: Sendable {
        public var bytes: [UInt8]
        public var format: OutputFormat
        public var width: Int
        public var height: Int
        public var source: SourceInfo
        /// Seconds per step, for logs and the benchmark.
        public var timings: [(step: String, seconds: Double)]
    }

    /// Converts `source` to `format`. Throws for anything that cannot be
    /// converted; the caller decides whether the original can be served.
    public func convert(_ source: [UInt8], to format: OutputFormat) throws(ImageError) -> Output {
        var timings: [(String, Double)] = []
        let started = MonotonicClock.now()
        var mark = started
        func step(_ name: String) throws(ImageError) {
            let time = MonotonicClock.now()
            timings.append((name, time - mark))
            mark = time
            if time - started > timeBudget {
                throw ImageError(.timeout, "over the \(timeBudget) s budget after \(name)")
            }
        }

        return try withBytes(source) { (bytes: UnsafeRawBufferPointer) throws(ImageError) -> Output in
            guard bytes.count > 0 else { throw ImageError(.corrupt, "empty file") }
            let info = try Probe.run(bytes, limits: limits)
            try step("probe")
            if info.isAnimated, Self.animates(info.format), format == .webp || format == .avif, !firstFrameOfAnimation {
                let (encoded, made, width, height) = try animate(bytes, info: info, to: format, started: started)
                try step("animate")
                return Output(bytes: encoded, format: made, width: width, height: height, source: info, timings: timings)
            }
            // A scan bomb is not recompressed (libjxl has no scan limit; the
            // pixel path below refuses it with libjpeg-turbo's).
            if format == .jxl, info.format == .jpeg, !info.isAnimated,
               maxDimension == 0 || max(info.width, info.height) <= maxDimension,
               fitBox == nil,
               JPEGSegments.scanCount(bytes) <= JPEGSegments.maxScans,
               let recompressed = try? JXLEncoder.recompress(jpeg: bytes, settings: settings) {
                try step("recompress")
                // libjxl carries the EXIF orientation into the codestream:
                // shown turned, as the other outputs are.
                let turned = info.orientation >= 5
                return Output(bytes: recompressed, format: .jxl, width: turned ? info.height : info.width,
                              height: turned ? info.width : info.height, source: info, timings: timings)
            }
            let image = try pixels(bytes, info: info, step: step)
            let encoded = try encode(image, to: format, graphic: info.format == .png || info.format == .gif)
            try step("encode")
            return Output(bytes: encoded, format: format, width: image.width, height: image.height, source: info, timings: timings)
        }
    }

    /// The pixels a still conversion encodes: decoded, turned upright,
    /// fitted within `maxDimension`, opaque alpha dropped. What the quality
    /// search measures an encoding against.
    public func prepare(_ source: [UInt8]) throws(ImageError) -> (image: RasterImage, info: SourceInfo) {
        try withBytes(source) { (bytes: UnsafeRawBufferPointer) throws(ImageError) -> (image: RasterImage, info: SourceInfo) in
            guard bytes.count > 0 else { throw ImageError(.corrupt, "empty file") }
            let info = try Probe.run(bytes, limits: limits)
            return (try pixels(bytes, info: info, step: { (_: String) throws(ImageError) in }), info)
        }
    }

    private func pixels(_ bytes: UnsafeRawBufferPointer, info: SourceInfo,
                        step: (String) throws(ImageError) -> Void) throws(ImageError) -> RasterImage {
        // Orientation 5–8 swaps the sides: ask the JPEG decoder for the
        // side that will end up longest.
        // Any other animation asked for is made a still on purpose (a
        // client that can show no animated form of it): its first frame.
        let firstFrame = firstFrameOfAnimation || info.isAnimated
        var image = if info.format == .heif, let heifDecoder {
            try heifDecoder(bytes, info)
        } else {
            try Decode.run(bytes, info: info, maxDimension: maxDimension, firstFrame: firstFrame)
        }
        try step("decode")
        image = Orient.apply(image, orientation: info.orientation)
        try step("orient")
        image = try Fit.apply(image, maxDimension: maxDimension)
        if let fitBox { image = try Fit.apply(image, box: fitBox) }
        // An sRGB profile says what untagged means: bytes for nothing.
        if let profile = image.iccProfile, ICCProfile.isSRGB(profile) { image.iccProfile = nil }
        image = image.droppingOpaqueAlpha()
        try step("fit")
        return image
    }

    /// A Web Push badge (`Badge`) made from the source's first frame, as a
    /// PNG; nil when the image carries too little to be one.
    public func badge(_ source: [UInt8]) throws(ImageError) -> Output? {
        let (image, info) = try prepare(source)
        guard let badge = try Badge.make(image) else { return nil }
        let png = try PNGEncoder.encode(badge)
        return Output(bytes: png, format: .png, width: badge.width, height: badge.height, source: info, timings: [])
    }

    /// Prepared pixels in `format` with these settings; `graphic` (a PNG or
    /// GIF source) also tries lossless where that may be smaller.
    public func encode(_ image: RasterImage, to format: OutputFormat, graphic: Bool) throws(ImageError) -> [UInt8] {
        switch format {
        case .avif: try AVIFEncoder.encode(image, settings: settings)
        case .webp: try WebPEncoder.encode(image, settings: settings, tryLossless: graphic)
        case .jpeg: try JPEGEncoder.encode(image, settings: settings)
        case .png: try PNGEncoder.encode(image)
        case .jxl: try encodeJXL(image, graphic: graphic)
        }
    }

    /// The animated sources herd re-encodes as animations (other ones are
    /// served as they are, or made a still from their first frame).
    public static func animates(_ format: ImageFormat) -> Bool { format == .gif || format == .webp || format == .png }

    /// An animated GIF, WebP or PNG as animated WebP or AVIF: every frame
    /// composited as a browser plays it, fitted within `maxDimension` and
    /// `fitBox`, encoded as it comes (one canvas in memory besides the
    /// source's decoder), the time budget checked between frames. AVIF
    /// only for an animation that loops forever: libavif 0.11 writes no loop
    /// count, and players loop an AVIF sequence forever; one that stops gets
    /// animated WebP, which says so.
    private func animate(_ bytes: UnsafeRawBufferPointer, info: SourceInfo, to format: OutputFormat,
                         started: Double) throws(ImageError) -> ([UInt8], OutputFormat, Int, Int) {
        let source: any AnimationSource = switch info.format {
        case .gif: try GIFFile(bytes)
        case .png: try APNGFile(bytes, maxFrames: limits.maxFrames)
        default: try WebPAnimation(bytes, info: info, limits: limits)
        }
        let made: OutputFormat = format == .avif && source.loopCount == 0 ? .avif : .webp
        var width = source.width, height = source.height
        if maxDimension > 0, max(width, height) > maxDimension {
            let scale = Double(maxDimension) / Double(max(width, height))
            width = max(1, Int((Double(width) * scale).rounded()))
            height = max(1, Int((Double(height) * scale).rounded()))
        }
        if let fitBox { (width, height) = fitBox.fitted(width: width, height: height) }
        let webp = made == .webp ? try AnimatedWebPEncoder(width: width, height: height, loopCount: source.loopCount, settings: settings) : nil
        let avif = made == .avif ? try AnimatedAVIFEncoder(settings: settings, alpha: source.mayBeTransparent) : nil
        let budget = timeBudget
        let (sourceWidth, sourceHeight) = (source.width, source.height)
        let end = try source.play { (canvas: [UInt8], startMs: Int, durationMs: Int) throws(ImageError) in
            guard MonotonicClock.now() - started <= budget else {
                throw ImageError(.timeout, "over the \(budget) s budget at the frame shown at \(startMs) ms")
            }
            var frame = RasterImage(width: sourceWidth, height: sourceHeight, channels: 4, pixels: canvas)
            if frame.width != width || frame.height != height { frame = try Fit.resize(frame, width: width, height: height) }
            try webp?.add(frame, timestampMs: startMs)
            try avif?.add(frame, durationMs: durationMs)
        }
        if let avif { return (try avif.finish(), .avif, width, height) }
        return (try webp!.finish(endMs: end), .webp, width, height)
    }

    /// Lossy JPEG XL; for a small graphic also lossless, the smaller kept
    /// (flat colours and sharp edges are what lossless does best).
    private func encodeJXL(_ image: RasterImage, graphic: Bool) throws(ImageError) -> [UInt8] {
        let lossy = try JXLEncoder.encode(image, settings: settings)
        guard graphic, image.width * image.height <= settings.webpLosslessMaxPixels,
              let lossless = try? JXLEncoder.encode(image, settings: settings, lossless: true) else { return lossy }
        return lossless.count < lossy.count ? lossless : lossy
    }

    /// `withUnsafeBytes` with a typed error.
    private func withBytes<T>(_ array: [UInt8], _ body: (UnsafeRawBufferPointer) throws(ImageError) -> T) throws(ImageError) -> T {
        var result: Result<T, ImageError>!
        array.withUnsafeBytes { bytes in
            do throws(ImageError) { result = .success(try body(bytes)) } catch { result = .failure(error) }
        }
        return try result.get()
    }

}
