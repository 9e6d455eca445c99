import CWebP

/// An animation as browsers play it: each composited canvas (RGBA, the
/// canvas's size), the time it starts and how long it shows. What
/// `ImagePipeline.animate` resizes and re-encodes, whatever the source
/// format (`GIFFile`, `WebPAnimation`).
protocol AnimationSource: AnyObject {
    var width: Int { get }
    var height: Int { get }
    /// How many times it plays; 0 = forever (WebP's meaning).
    var loopCount: Int { get }
    /// Whether any canvas may show a transparent pixel (an AVIF sequence
    /// without one carries no alpha plane).
    var mayBeTransparent: Bool { get }
    /// Calls `frame` with each canvas in order; returns when the last one
    /// ends, in ms.
    func play(frame: (_ canvas: [UInt8], _ startMs: Int, _ durationMs: Int) throws(ImageError) -> Void) throws(ImageError) -> Int
}

enum AnimationTiming {
    /// How long browsers show a frame that asks for `ms`: 10 ms or less is
    /// shown as 100 ms (Chromium and Firefox, for every format), so an
    /// animation re-encoded with the durations it asked for would play
    /// faster than its source did.
    static func shown(_ ms: Int) -> Int { ms <= 10 ? 100 : ms }
}

extension GIFFile: AnimationSource {
    func play(frame: (_ canvas: [UInt8], _ startMs: Int, _ durationMs: Int) throws(ImageError) -> Void) throws(ImageError) -> Int {
        try GIFAnimation.play(self, frame: frame)
    }
}

/// An animated WebP read by libwebpdemux's WebPAnimDecoder, which
/// composites each frame on the canvas (blend and dispose as the
/// specification says; background disposal to transparent, as browsers
/// do). `bytes` must outlive it: the decoder reads them in place.
final class WebPAnimation: AnimationSource {
    private let decoder: OpaquePointer
    let width: Int
    let height: Int
    let loopCount: Int
    let frameCount: Int
    let mayBeTransparent: Bool

    init(_ bytes: UnsafeRawBufferPointer) throws(ImageError) {
        guard let base = bytes.baseAddress else { throw ImageError(.corrupt, "animated WebP: empty") }
        var data = WebPData(bytes: base.assumingMemoryBound(to: UInt8.self), size: bytes.count)
        let layout = try Self.layout(bytes)
        mayBeTransparent = layout.mayBeTransparent
        var options = WebPAnimDecoderOptions()
        guard herd_webp_anim_decoder_options_init(&options) != 0 else { throw ImageError(.corrupt, "WebPAnimDecoderOptionsInit") }
        options.color_mode = MODE_RGBA
        options.use_threads = 0
        guard let decoder = herd_webp_anim_decoder_new(&data, &options) else { throw ImageError(.corrupt, "animated WebP: unreadable") }
        var info = WebPAnimInfo()
        guard WebPAnimDecoderGetInfo(decoder, &info) != 0, info.frame_count >= 1 else {
            WebPAnimDecoderDelete(decoder)
            throw ImageError(.corrupt, "animated WebP: no frames")
        }
        self.decoder = decoder
        width = Int(info.canvas_width)
        height = Int(info.canvas_height)
        loopCount = Int(info.loop_count)
        frameCount = Int(info.frame_count)
    }

    deinit { WebPAnimDecoderDelete(decoder) }

    func play(frame: (_ canvas: [UInt8], _ startMs: Int, _ durationMs: Int) throws(ImageError) -> Void) throws(ImageError) -> Int {
        WebPAnimDecoderReset(decoder)
        var previousEnd = 0
        var start = 0
        while WebPAnimDecoderHasMoreFrames(decoder) != 0 {
            var pixels: UnsafeMutablePointer<UInt8>? = nil
            var end: Int32 = 0  // libwebp's timestamp: when this frame ends
            guard WebPAnimDecoderGetNext(decoder, &pixels, &end) != 0, let pixels else {
                throw ImageError(.corrupt, "animated WebP: a frame is unreadable")
            }
            let duration = AnimationTiming.shown(Int(end) - previousEnd)
            previousEnd = Int(end)
            try frame(Array(UnsafeBufferPointer(start: pixels, count: width * height * 4)), start, duration)
            start += duration
        }
        return start
    }

    /// The frame count and whether any frame has alpha or leaves part of
    /// the canvas uncovered, from the chunks alone (no pixel decoded).
    static func layout(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> (frames: Int, mayBeTransparent: Bool) {
        guard let base = bytes.baseAddress else { throw ImageError(.corrupt, "WebP: empty") }
        var data = WebPData(bytes: base.assumingMemoryBound(to: UInt8.self), size: bytes.count)
        guard let demux = herd_webp_demux(&data) else { throw ImageError(.corrupt, "WebP: container unreadable") }
        defer { WebPDemuxDelete(demux) }
        let canvasWidth = Int32(WebPDemuxGetI(demux, WEBP_FF_CANVAS_WIDTH))
        let canvasHeight = Int32(WebPDemuxGetI(demux, WEBP_FF_CANVAS_HEIGHT))
        let frames = Int(WebPDemuxGetI(demux, WEBP_FF_FRAME_COUNT))
        var transparent = false
        var iterator = WebPIterator()
        if WebPDemuxGetFrame(demux, 1, &iterator) != 0 {
            repeat {
                if iterator.has_alpha != 0 || iterator.x_offset != 0 || iterator.y_offset != 0
                    || iterator.width != canvasWidth || iterator.height != canvasHeight {
                    transparent = true
                }
            } while !transparent && WebPDemuxNextFrame(&iterator) != 0
            WebPDemuxReleaseIterator(&iterator)
        }
        return (frames, transparent)
    }
}
