import CWebP

/// Lossy WebP (lossless when it is smaller, for small graphics), ICC profile
/// in an ICCP chunk via libwebpmux.
enum WebPEncoder {
    static func encode(_ image: RasterImage, settings: EncoderSettings, tryLossless: Bool) throws(ImageError) -> [UInt8] {
        var best = try encodeOnce(image, settings: settings, lossless: false)
        if tryLossless, image.width * image.height <= settings.webpLosslessMaxPixels {
            let lossless = try encodeOnce(image, settings: settings, lossless: true)
            if lossless.count < best.count { best = lossless }
        }
        guard let profile = image.iccProfile, !profile.isEmpty else { return best }
        return try attachICC(best, profile: profile)
    }

    private static func encodeOnce(_ image: RasterImage, settings: EncoderSettings, lossless: Bool) throws(ImageError) -> [UInt8] {
        var config = WebPConfig()
        guard herd_webp_config_init(&config) != 0 else { throw ImageError(.encodeFailed, "WebPConfigInit") }
        config.quality = Float(lossless ? 70 : Float(settings.webpQuality))
        config.method = Int32(settings.webpMethod)
        config.lossless = lossless ? 1 : 0
        config.thread_level = settings.threads > 1 ? 1 : 0
        guard WebPValidateConfig(&config) != 0 else { throw ImageError(.encodeFailed, "WebP config invalid") }

        let picture = try WebPPictureBox(image, argb: lossless)
        var writer = WebPMemoryWriter()
        WebPMemoryWriterInit(&writer)
        defer { WebPMemoryWriterClear(&writer) }
        let ok = withUnsafeMutablePointer(to: &writer) { writerPointer -> Int32 in
            picture.picture.writer = { data, size, picture in WebPMemoryWrite(data, size, picture) }
            picture.picture.custom_ptr = UnsafeMutableRawPointer(writerPointer)
            return WebPEncode(&config, &picture.picture)
        }
        guard ok != 0 else { throw ImageError(.encodeFailed, "WebP: error \(picture.picture.error_code.rawValue)") }
        return Array(UnsafeBufferPointer(start: writer.mem, count: writer.size))
    }

    static func attachICC(_ webp: [UInt8], profile: [UInt8]) throws(ImageError) -> [UInt8] {
        guard let mux = herd_webp_mux_new() else { throw ImageError(.encodeFailed, "WebPMuxNew") }
        defer { WebPMuxDelete(mux) }
        var assembled = WebPData()
        defer { WebPDataClear(&assembled) }
        let status: WebPMuxError = webp.withUnsafeBufferPointer { image in
            profile.withUnsafeBufferPointer { icc in
                var imageData = WebPData(bytes: image.baseAddress, size: image.count)
                var iccData = WebPData(bytes: icc.baseAddress, size: icc.count)
                var status = WebPMuxSetImage(mux, &imageData, 1)
                if status == WEBP_MUX_OK { status = WebPMuxSetChunk(mux, "ICCP", &iccData, 1) }
                if status == WEBP_MUX_OK { status = WebPMuxAssemble(mux, &assembled) }
                return status
            }
        }
        guard status == WEBP_MUX_OK else { throw ImageError(.encodeFailed, "WebP mux: \(status.rawValue)") }
        return Array(UnsafeBufferPointer(start: assembled.bytes, count: assembled.size))
    }
}
