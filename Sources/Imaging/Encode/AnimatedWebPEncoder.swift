import CWebP

/// Animated WebP with libwebpmux's WebPAnimEncoder: frames added one at a
/// time as full canvases (the encoder finds each frame's changed rectangle
/// and blending itself), lossy at the WebP quality and method, the loop
/// count kept, transparency kept.
final class AnimatedWebPEncoder {
    private let encoder: OpaquePointer
    private var config = WebPConfig()
    let width: Int
    let height: Int

    init(width: Int, height: Int, loopCount: Int, settings: EncoderSettings) throws(ImageError) {
        var options = WebPAnimEncoderOptions()
        guard herd_webp_anim_encoder_options_init(&options) != 0 else { throw ImageError(.encodeFailed, "WebPAnimEncoderOptionsInit") }
        options.anim_params.loop_count = Int32(clamping: loopCount)
        options.anim_params.bgcolor = 0  // transparent, as browsers show a GIF's background
        guard let encoder = herd_webp_anim_encoder_new(Int32(width), Int32(height), &options) else {
            throw ImageError(.encodeFailed, "WebPAnimEncoderNew")
        }
        self.encoder = encoder
        self.width = width
        self.height = height
        guard herd_webp_config_init(&config) != 0 else { throw ImageError(.encodeFailed, "WebPConfigInit") }
        config.quality = Float(settings.webpQuality)
        config.method = Int32(settings.webpMethod)
        config.thread_level = settings.threads > 1 ? 1 : 0
        guard WebPValidateConfig(&config) != 0 else { throw ImageError(.encodeFailed, "WebP config invalid") }
    }

    deinit {
        WebPAnimEncoderDelete(encoder)
    }

    /// One frame (RGBA, `width` × `height`) shown from `timestampMs`.
    func add(_ frame: RasterImage, timestampMs: Int) throws(ImageError) {
        let picture = try WebPPictureBox(frame, argb: true)
        guard WebPAnimEncoderAdd(encoder, &picture.picture, Int32(clamping: timestampMs), &config) != 0 else {
            throw ImageError(.encodeFailed, "animated WebP: " + String(cString: WebPAnimEncoderGetError(encoder)))
        }
    }

    /// The animation, ending at `endMs`.
    func finish(endMs: Int) throws(ImageError) -> [UInt8] {
        guard WebPAnimEncoderAdd(encoder, nil, Int32(clamping: endMs), nil) != 0 else {
            throw ImageError(.encodeFailed, "animated WebP: " + String(cString: WebPAnimEncoderGetError(encoder)))
        }
        var data = WebPData()
        defer { WebPDataClear(&data) }
        guard WebPAnimEncoderAssemble(encoder, &data) != 0 else {
            throw ImageError(.encodeFailed, "animated WebP: " + String(cString: WebPAnimEncoderGetError(encoder)))
        }
        return Array(UnsafeBufferPointer(start: data.bytes, count: data.size))
    }
}
