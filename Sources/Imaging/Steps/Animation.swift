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
    static func shown(_ ms: Int) -> Int { ms <= 10 ? 100 : min(ms, maxFrameMs) }

    /// The longest frame an output can say: WebP's duration field has 24
    /// bits (4.6 hours; longer ones are shown this long).
    static let maxFrameMs = (1 << 24) - 1

    /// A loop count as WebP can say it (16 bits; 0 = forever): more plays
    /// than that are forever for anyone watching.
    static func loops(_ count: Int) -> Int { count > 65_535 ? 0 : count }
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
    let mayBeTransparent: Bool

    /// `info`: the probe's (its `hasAlpha` judged every frame, `layout`).
    init(_ bytes: UnsafeRawBufferPointer, info probed: SourceInfo, limits: ImageLimits) throws(ImageError) {
        guard let base = bytes.baseAddress else { throw ImageError(.corrupt, "animated WebP: empty") }
        var data = WebPData(bytes: base.assumingMemoryBound(to: UInt8.self), size: bytes.count)
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
        loopCount = AnimationTiming.loops(Int(info.loop_count))
        let frameCount = Int(info.frame_count)
        // The caps again, on the count that plays (the probe's is the same
        // unless the file is one libwebpdemux refuses, which fails above).
        guard frameCount <= limits.maxFrames, frameCount * width * height <= limits.maxAnimationPixels else {
            WebPAnimDecoderDelete(decoder)
            throw ImageError(.tooManyFrames, "animated WebP: \(frameCount) frames of \(width)×\(height) over the caps")
        }
        mayBeTransparent = probed.hasAlpha
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

    /// How many frames libwebp will play, and whether any may show
    /// transparency, from the container alone (no pixel decoded).
    ///
    /// The count is libwebpdemux's own (it is what plays; a hand count of
    /// ANMF chunks differs from it for nested or trailing chunks), read
    /// without its per-frame lookup, which walks the frame list from the
    /// start each time (iterating with it is quadratic in the frames). A
    /// file libwebpdemux refuses (cut short) is counted by the walk below.
    ///
    /// Transparency, like libwebp judges it per frame: an ALPH chunk, a
    /// VP8L image with its alpha bit, or an image (its size read from its
    /// own header, as libwebp does, not the ANMF's) that leaves part of the
    /// canvas uncovered. One walk over the RIFF chunks within the RIFF size.
    static func layout(_ bytes: UnsafeRawBufferPointer, canvasWidth: Int, canvasHeight: Int) -> (frames: Int, mayBeTransparent: Bool) {
        func u16(_ at: Int) -> Int { Int(bytes[at]) | Int(bytes[at + 1]) << 8 }
        func u24(_ at: Int) -> Int { u16(at) | Int(bytes[at + 2]) << 16 }
        func u32(_ at: Int) -> Int { u24(at) | Int(bytes[at + 3]) << 24 }
        func named(_ at: Int, _ name: StaticString) -> Bool {
            (0..<4).allSatisfy { bytes[at + $0] == name.utf8Start[$0] }
        }
        guard bytes.count >= 12 else { return (0, true) }
        let end = min(bytes.count, 8 + u32(4))
        var frames = 0
        var transparent = false
        var offset = 12  // "RIFF", size, "WEBP"
        while offset + 8 <= end {
            let size = u32(offset + 4)
            let payload = offset + 8
            guard size <= end - payload else { break }
            if named(offset, "ANMF"), size >= 16 {
                frames += 1
                let x = u24(payload) * 2, y = u24(payload + 3) * 2
                var width = u24(payload + 6) + 1, height = u24(payload + 9) + 1
                var inner = payload + 16
                while inner + 8 <= payload + size {
                    let innerSize = u32(inner + 4), data = inner + 8
                    guard innerSize <= payload + size - data else { break }
                    if named(inner, "ALPH") { transparent = true }
                    if named(inner, "VP8L"), innerSize >= 5, bytes[data] == 0x2f {
                        let bits = u32(data + 1)
                        (width, height) = ((bits & 0x3fff) + 1, (bits >> 14 & 0x3fff) + 1)
                        if bits >> 28 & 1 == 1 { transparent = true }
                    }
                    if named(inner, "VP8 "), innerSize >= 10, bytes[data + 3] == 0x9d, bytes[data + 4] == 0x01, bytes[data + 5] == 0x2a {
                        (width, height) = (u16(data + 6) & 0x3fff, u16(data + 8) & 0x3fff)
                    }
                    inner = data + innerSize + (innerSize & 1)
                }
                if x != 0 || y != 0 || width < canvasWidth || height < canvasHeight { transparent = true }
            }
            offset = payload + size + (size & 1)
        }
        var data = WebPData(bytes: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), size: bytes.count)
        if let demux = herd_webp_demux(&data) {
            frames = Int(WebPDemuxGetI(demux, WEBP_FF_FRAME_COUNT))
            WebPDemuxDelete(demux)
        }
        return (frames, transparent)
    }
}
