import CAVIF

/// AVIF with libavif (AV1 via the configured codec), 4:2:0 for photos and
/// 4:4:4 for images with alpha or few pixels, ICC profile attached.
enum AVIFEncoder {
    static func encode(_ image: RasterImage, settings: EncoderSettings) throws(ImageError) -> [UInt8] {
        let format = image.hasAlpha || image.width * image.height <= 256 * 256 ? AVIF_PIXEL_FORMAT_YUV444 : AVIF_PIXEL_FORMAT_YUV420
        guard let avif = avifImageCreate(UInt32(image.width), UInt32(image.height), 8, format) else {
            throw ImageError(.encodeFailed, "avifImageCreate")
        }
        defer { avifImageDestroy(avif) }
        // What avifenc writes: BT.601 coefficients, full range. Left
        // "unspecified", decoders guess, and the encoder works harder.
        avif.pointee.matrixCoefficients = avifMatrixCoefficients(AVIF_MATRIX_COEFFICIENTS_BT601)
        avif.pointee.yuvRange = AVIF_RANGE_FULL
        if let profile = image.iccProfile, !profile.isEmpty {
            profile.withUnsafeBufferPointer { avifImageSetProfileICC(avif, $0.baseAddress, $0.count) }
        }
        var rgb = avifRGBImage()
        avifRGBImageSetDefaults(&rgb, avif)
        rgb.format = image.hasAlpha ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB
        rgb.depth = 8
        var pixels = image.pixels
        let converted = pixels.withUnsafeMutableBufferPointer { buffer -> avifResult in
            rgb.pixels = buffer.baseAddress
            rgb.rowBytes = UInt32(image.width * image.channels)
            return avifImageRGBToYUV(avif, &rgb)
        }
        guard converted == AVIF_RESULT_OK else { throw ImageError(.encodeFailed, "AVIF RGB→YUV: \(message(converted))") }

        guard let encoder = avifEncoderCreate() else { throw ImageError(.encodeFailed, "avifEncoderCreate") }
        defer { avifEncoderDestroy(encoder) }
        encoder.pointee.codecChoice = codecChoice(settings.avifCodec)
        encoder.pointee.maxThreads = Int32(max(1, settings.threads))
        encoder.pointee.speed = Int32(settings.avifSpeed)
        let quantizer = Int32(settings.avifQuantizer)
        encoder.pointee.minQuantizer = quantizer
        encoder.pointee.maxQuantizer = quantizer
        encoder.pointee.minQuantizerAlpha = quantizer
        encoder.pointee.maxQuantizerAlpha = quantizer
        var output = avifRWData()
        defer { avifRWDataFree(&output) }
        let written = avifEncoderWrite(encoder, avif, &output)
        guard written == AVIF_RESULT_OK else { throw ImageError(.encodeFailed, "AVIF: \(message(written))") }
        return Array(UnsafeBufferPointer(start: output.data, count: output.size))
    }

    static func codecChoice(_ codec: EncoderSettings.AVIFCodec) -> avifCodecChoice {
        switch codec {
        case .aom: AVIF_CODEC_CHOICE_AOM
        case .rav1e: AVIF_CODEC_CHOICE_RAV1E
        case .svt: AVIF_CODEC_CHOICE_SVT
        }
    }

    private static func message(_ result: avifResult) -> String { String(cString: avifResultToString(result)) }
}
