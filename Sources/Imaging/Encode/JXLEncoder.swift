import CJXL

/// JPEG XL with libjxl. Two ways in:
/// - a JPEG is *recompressed*: its DCT coefficients are re-entropy-coded
///   and the JPEG's own bytes stored alongside (JxlEncoderStoreJPEGMetadata),
///   so the JXL decodes back to the identical JPEG, bit for bit, about a
///   fifth smaller. No pixel is decoded;
/// - anything else is encoded from pixels: lossy (VarDCT at the distance
///   `jxlQuality` maps to, as cjxl's -q does), lossless for small graphics
///   when that is smaller.
/// One thread (no parallel runner): the worker count already uses every core.
enum JXLEncoder {
    /// Recompresses a JPEG losslessly. Throws for a JPEG libjxl cannot
    /// take (e.g. CMYK, arithmetic coding); the caller encodes pixels then.
    static func recompress(jpeg: UnsafeRawBufferPointer, settings: EncoderSettings) throws(ImageError) -> [UInt8] {
        try encode(settings: settings) { (encoder, frame) throws(ImageError) in
            guard JxlEncoderStoreJPEGMetadata(encoder, JXL_TRUE) == JXL_ENC_SUCCESS else {
                throw ImageError(.encodeFailed, "JxlEncoderStoreJPEGMetadata")
            }
            let base = jpeg.bindMemory(to: UInt8.self).baseAddress
            guard JxlEncoderAddJPEGFrame(frame, base, jpeg.count) == JXL_ENC_SUCCESS else {
                throw ImageError(.encodeFailed, "JPEG XL: libjxl cannot recompress this JPEG (error \(JxlEncoderGetError(encoder).rawValue))")
            }
        }
    }

    /// Encodes pixels, lossy at the configured quality.
    static func encode(_ image: RasterImage, settings: EncoderSettings, lossless: Bool = false) throws(ImageError) -> [UInt8] {
        try encode(settings: settings) { (encoder, frame) throws(ImageError) in
            var info = JxlBasicInfo()
            JxlEncoderInitBasicInfo(&info)
            info.xsize = UInt32(image.width)
            info.ysize = UInt32(image.height)
            info.bits_per_sample = 8
            info.num_color_channels = 3
            if image.hasAlpha {
                info.num_extra_channels = 1
                info.alpha_bits = 8
            }
            // Lossless keeps the source's colours as they are; lossy works
            // in XYB, converted from the profile below.
            info.uses_original_profile = lossless ? JXL_TRUE : JXL_FALSE
            guard JxlEncoderSetBasicInfo(encoder, &info) == JXL_ENC_SUCCESS else {
                throw ImageError(.encodeFailed, "JxlEncoderSetBasicInfo (error \(JxlEncoderGetError(encoder).rawValue))")
            }
            // The source's profile; sRGB when it has none, or one libjxl
            // cannot parse (as a browser would show such an image).
            var profileSet = false
            if let profile = image.iccProfile, !profile.isEmpty {
                profileSet = profile.withUnsafeBufferPointer {
                    JxlEncoderSetICCProfile(encoder, $0.baseAddress, $0.count)
                } == JXL_ENC_SUCCESS
            }
            if !profileSet {
                var srgb = JxlColorEncoding()
                JxlColorEncodingSetToSRGB(&srgb, JXL_FALSE)
                guard JxlEncoderSetColorEncoding(encoder, &srgb) == JXL_ENC_SUCCESS else {
                    throw ImageError(.encodeFailed, "JPEG XL colour encoding")
                }
            }
            if lossless {
                guard JxlEncoderSetFrameLossless(frame, JXL_TRUE) == JXL_ENC_SUCCESS else {
                    throw ImageError(.encodeFailed, "JxlEncoderSetFrameLossless")
                }
            } else {
                guard JxlEncoderSetFrameDistance(frame, settings.jxlDistance) == JXL_ENC_SUCCESS else {
                    throw ImageError(.encodeFailed, "JxlEncoderSetFrameDistance")
                }
            }
            var format = JxlPixelFormat(num_channels: UInt32(image.channels), data_type: JXL_TYPE_UINT8,
                                        endianness: JXL_NATIVE_ENDIAN, align: 0)
            let added = image.pixels.withUnsafeBytes {
                JxlEncoderAddImageFrame(frame, &format, $0.baseAddress, $0.count)
            }
            guard added == JXL_ENC_SUCCESS else {
                throw ImageError(.encodeFailed, "JxlEncoderAddImageFrame (error \(JxlEncoderGetError(encoder).rawValue))")
            }
        }
    }

    /// An encoder with herd's frame settings; `add` puts the one frame in.
    private static func encode(settings: EncoderSettings,
                               add: (OpaquePointer, OpaquePointer) throws(ImageError) -> Void) throws(ImageError) -> [UInt8] {
        guard let encoder = JxlEncoderCreate(nil) else { throw ImageError(.encodeFailed, "JxlEncoderCreate") }
        defer { JxlEncoderDestroy(encoder) }
        // A bare codestream: no container boxes unless the JPEG's own
        // metadata needs them (libjxl adds the container then by itself).
        guard let frame = JxlEncoderFrameSettingsCreate(encoder, nil) else {
            throw ImageError(.encodeFailed, "JxlEncoderFrameSettingsCreate")
        }
        guard JxlEncoderFrameSettingsSetOption(frame, JXL_ENC_FRAME_SETTING_EFFORT, Int64(settings.jxlEffort)) == JXL_ENC_SUCCESS else {
            throw ImageError(.encodeFailed, "JPEG XL effort \(settings.jxlEffort)")
        }
        try add(encoder, frame)
        JxlEncoderCloseInput(encoder)
        var output = [UInt8](repeating: 0, count: 64 << 10)
        var written = 0
        while true {
            let (status, produced) = output.withUnsafeMutableBufferPointer { buffer -> (JxlEncoderStatus, Int) in
                var next: UnsafeMutablePointer<UInt8>? = buffer.baseAddress! + written
                var available = buffer.count - written
                let status = JxlEncoderProcessOutput(encoder, &next, &available)
                return (status, buffer.count - written - available)
            }
            written += produced
            switch status {
            case JXL_ENC_SUCCESS:
                output.removeSubrange(written...)
                return output
            case JXL_ENC_NEED_MORE_OUTPUT:
                output.append(contentsOf: repeatElement(0, count: output.count))
            default:
                throw ImageError(.encodeFailed, "JPEG XL encode (error \(JxlEncoderGetError(encoder).rawValue))")
            }
        }
    }
}
