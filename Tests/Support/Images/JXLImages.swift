import CJXL
import Imaging

/// JPEG XL in the tests, through libjxl's own decoder: pixels (with the
/// profile the file carries), the JPEG a recompressed file reconstructs,
/// and a real ICC profile to carry through (libjxl refuses made-up ones).
public enum JXLImages {
    public struct Decoded {
        public var image: RasterImage
        /// The orientation field of the codestream (1 = as stored).
        public var orientation: Int
    }

    public static func isJXL(_ bytes: [UInt8]) -> Bool {
        bytes.starts(with: [0xFF, 0x0A]) || bytes.starts(with: [0, 0, 0, 0x0C, 0x4A, 0x58, 0x4C, 0x20])
    }

    /// The JPEG a JXL made by lossless recompression decodes back to; nil
    /// when the file holds no JPEG reconstruction data.
    public static func reconstructJPEG(_ jxl: [UInt8]) -> [UInt8]? {
        guard let decoder = JxlDecoderCreate(nil) else { return nil }
        defer { JxlDecoderDestroy(decoder) }
        guard JxlDecoderSubscribeEvents(decoder, Int32(JXL_DEC_JPEG_RECONSTRUCTION.rawValue | JXL_DEC_FULL_IMAGE.rawValue)) == JXL_DEC_SUCCESS else { return nil }
        return jxl.withUnsafeBufferPointer { input -> [UInt8]? in
            _ = JxlDecoderSetInput(decoder, input.baseAddress, input.count)
            JxlDecoderCloseInput(decoder)
            var output = [UInt8](repeating: 0, count: 1 << 20)
            var reconstructing = false
            while true {
                switch JxlDecoderProcessInput(decoder) {
                case JXL_DEC_JPEG_RECONSTRUCTION:
                    reconstructing = true
                    _ = output.withUnsafeMutableBufferPointer { JxlDecoderSetJPEGBuffer(decoder, $0.baseAddress, $0.count) }
                case JXL_DEC_JPEG_NEED_MORE_OUTPUT:
                    return nil  // 1 MiB is plenty for the tests' JPEGs
                case JXL_DEC_NEED_IMAGE_OUT_BUFFER:
                    return nil  // pixels, not a JPEG
                case JXL_DEC_FULL_IMAGE:
                    guard reconstructing else { return nil }
                    let left = JxlDecoderReleaseJPEGBuffer(decoder)
                    return Array(output.prefix(output.count - left))
                case JXL_DEC_SUCCESS:
                    return nil
                default:
                    return nil
                }
            }
        }
    }

    /// 8-bit RGB(A) pixels as stored (orientation not applied), with the
    /// file's ICC profile (the original's, for a lossless or recompressed
    /// file; the encoder's view of it otherwise).
    public static func decode(_ jxl: [UInt8]) -> Decoded? {
        guard let decoder = JxlDecoderCreate(nil) else { return nil }
        defer { JxlDecoderDestroy(decoder) }
        let events = JXL_DEC_BASIC_INFO.rawValue | JXL_DEC_COLOR_ENCODING.rawValue | JXL_DEC_FULL_IMAGE.rawValue
        guard JxlDecoderSubscribeEvents(decoder, Int32(events)) == JXL_DEC_SUCCESS,
              JxlDecoderSetKeepOrientation(decoder, JXL_TRUE) == JXL_DEC_SUCCESS else { return nil }
        return jxl.withUnsafeBufferPointer { input -> Decoded? in
            _ = JxlDecoderSetInput(decoder, input.baseAddress, input.count)
            JxlDecoderCloseInput(decoder)
            var info = JxlBasicInfo()
            var icc: [UInt8]? = nil
            var pixels: [UInt8] = []
            var format = JxlPixelFormat(num_channels: 3, data_type: JXL_TYPE_UINT8, endianness: JXL_NATIVE_ENDIAN, align: 0)
            while true {
                switch JxlDecoderProcessInput(decoder) {
                case JXL_DEC_BASIC_INFO:
                    guard JxlDecoderGetBasicInfo(decoder, &info) == JXL_DEC_SUCCESS else { return nil }
                    format.num_channels = info.alpha_bits > 0 ? 4 : 3
                case JXL_DEC_COLOR_ENCODING:
                    var size = 0
                    if JxlDecoderGetICCProfileSize(decoder, &format, JXL_COLOR_PROFILE_TARGET_ORIGINAL, &size) == JXL_DEC_SUCCESS, size > 0 {
                        var profile = [UInt8](repeating: 0, count: size)
                        if JxlDecoderGetColorAsICCProfile(decoder, &format, JXL_COLOR_PROFILE_TARGET_ORIGINAL, &profile, size) == JXL_DEC_SUCCESS {
                            icc = profile
                        }
                    }
                case JXL_DEC_NEED_IMAGE_OUT_BUFFER:
                    var size = 0
                    guard JxlDecoderImageOutBufferSize(decoder, &format, &size) == JXL_DEC_SUCCESS else { return nil }
                    pixels = [UInt8](repeating: 0, count: size)
                    let set = pixels.withUnsafeMutableBytes { JxlDecoderSetImageOutBuffer(decoder, &format, $0.baseAddress, $0.count) }
                    guard set == JXL_DEC_SUCCESS else { return nil }
                case JXL_DEC_FULL_IMAGE:
                    continue
                case JXL_DEC_SUCCESS:
                    guard !pixels.isEmpty else { return nil }
                    let image = RasterImage(width: Int(info.xsize), height: Int(info.ysize), channels: Int(format.num_channels),
                                            pixels: pixels, iccProfile: icc)
                    return Decoded(image: image, orientation: Int(info.orientation.rawValue))
                default:
                    return nil
                }
            }
        }
    }

    /// A real ICC profile (Display P3), written by libjxl from its colour
    /// encoding: what an iPhone photo carries.
    public static let displayP3Profile: [UInt8] = {
        guard let encoder = JxlEncoderCreate(nil) else { return [] }
        defer { JxlEncoderDestroy(encoder) }
        var info = JxlBasicInfo()
        JxlEncoderInitBasicInfo(&info)
        info.xsize = 1
        info.ysize = 1
        info.bits_per_sample = 8
        info.uses_original_profile = JXL_TRUE
        _ = JxlEncoderSetBasicInfo(encoder, &info)
        var colour = JxlColorEncoding()
        JxlColorEncodingSetToSRGB(&colour, JXL_FALSE)
        colour.primaries = JXL_PRIMARIES_P3
        _ = JxlEncoderSetColorEncoding(encoder, &colour)
        guard let frame = JxlEncoderFrameSettingsCreate(encoder, nil) else { return [] }
        _ = JxlEncoderSetFrameLossless(frame, JXL_TRUE)
        var format = JxlPixelFormat(num_channels: 3, data_type: JXL_TYPE_UINT8, endianness: JXL_NATIVE_ENDIAN, align: 0)
        var pixel: [UInt8] = [200, 100, 50]
        _ = JxlEncoderAddImageFrame(frame, &format, &pixel, 3)
        JxlEncoderCloseInput(encoder)
        var output = [UInt8](repeating: 0, count: 4096)
        var next: UnsafeMutablePointer<UInt8>? = nil
        var available = output.count
        let status = output.withUnsafeMutableBufferPointer { buffer -> JxlEncoderStatus in
            next = buffer.baseAddress
            return JxlEncoderProcessOutput(encoder, &next, &available)
        }
        guard status == JXL_ENC_SUCCESS else { return [] }
        return decode(Array(output.prefix(output.count - available)))?.image.iccProfile ?? []
    }()
}
