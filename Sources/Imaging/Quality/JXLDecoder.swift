import CJXL

/// Decodes a JPEG XL to 8-bit pixels, to measure what a JPEG XL answer
/// looks like (the quality search); herd never serves a decoded JXL. One
/// frame, the image's own colour channels (sRGB as herd encodes), alpha
/// when it has some.
enum JXLDecoder {
    static func decode(_ bytes: [UInt8]) throws(ImageError) -> RasterImage {
        guard let decoder = JxlDecoderCreate(nil) else { throw ImageError(.corrupt, "JxlDecoderCreate") }
        defer { JxlDecoderDestroy(decoder) }
        let events = Int32(JXL_DEC_BASIC_INFO.rawValue | JXL_DEC_FULL_IMAGE.rawValue)
        guard JxlDecoderSubscribeEvents(decoder, events) == JXL_DEC_SUCCESS else {
            throw ImageError(.corrupt, "JxlDecoderSubscribeEvents")
        }
        return try bytes.withUnsafeBufferPointer { (input) throws(ImageError) -> RasterImage in
            guard JxlDecoderSetInput(decoder, input.baseAddress, input.count) == JXL_DEC_SUCCESS else {
                throw ImageError(.corrupt, "JxlDecoderSetInput")
            }
            JxlDecoderCloseInput(decoder)
            var info = JxlBasicInfo()
            var channels = 3
            var pixels: [UInt8] = []
            var format = JxlPixelFormat(num_channels: 3, data_type: JXL_TYPE_UINT8, endianness: JXL_NATIVE_ENDIAN, align: 0)
            while true {
                let status = JxlDecoderProcessInput(decoder)
                switch status {
                case JXL_DEC_BASIC_INFO:
                    guard JxlDecoderGetBasicInfo(decoder, &info) == JXL_DEC_SUCCESS else {
                        throw ImageError(.corrupt, "JxlDecoderGetBasicInfo")
                    }
                    channels = info.alpha_bits > 0 ? 4 : 3
                    format.num_channels = UInt32(channels)
                case JXL_DEC_NEED_IMAGE_OUT_BUFFER:
                    var size = 0
                    guard JxlDecoderImageOutBufferSize(decoder, &format, &size) == JXL_DEC_SUCCESS,
                          size == Int(info.xsize) * Int(info.ysize) * channels else {
                        throw ImageError(.corrupt, "JxlDecoderImageOutBufferSize")
                    }
                    pixels = [UInt8](repeating: 0, count: size)
                    let set = pixels.withUnsafeMutableBytes { JxlDecoderSetImageOutBuffer(decoder, &format, $0.baseAddress, size) }
                    guard set == JXL_DEC_SUCCESS else { throw ImageError(.corrupt, "JxlDecoderSetImageOutBuffer") }
                case JXL_DEC_FULL_IMAGE:
                    // One frame is all herd writes.
                    return RasterImage(width: Int(info.xsize), height: Int(info.ysize), channels: channels, pixels: pixels)
                case JXL_DEC_SUCCESS:
                    throw ImageError(.corrupt, "JPEG XL: no frame")
                default:
                    throw ImageError(.corrupt, "JPEG XL decode (status \(status.rawValue))")
                }
            }
        }
    }
}
