import CHEIF
import Foundation
import Imaging

/// HEIC files made in the tests with libheif and its HEVC encoder (x265),
/// as an iPhone writes them: an ICC profile, and the rotation as an
/// irot/imir transform in the container rather than in the pixels.
public enum HEIFImages {
    public enum Failure: Error { case libheif(String) }

    /// `image` (RGB or RGBA) as HEIC at `quality`, shown turned by the
    /// EXIF-style `orientation` (1…8), with `icc` attached.
    public static func heic(_ image: RasterImage, quality: Int = 90, orientation: Int = 1, icc: [UInt8]? = nil) throws -> [UInt8] {
        _ = heif_init(nil)
        guard let context = heif_context_alloc() else { throw Failure.libheif("heif_context_alloc") }
        defer { heif_context_free(context) }
        var encoder: OpaquePointer?
        try check(heif_context_get_encoder_for_format(context, heif_compression_HEVC, &encoder))
        defer { heif_encoder_release(encoder) }
        try check(heif_encoder_set_lossy_quality(encoder, Int32(quality)))
        var picture: OpaquePointer?
        try check(heif_image_create(Int32(image.width), Int32(image.height), heif_colorspace_RGB,
                                    image.hasAlpha ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, &picture))
        defer { heif_image_release(picture) }
        try check(heif_image_add_plane(picture, heif_channel_interleaved, Int32(image.width), Int32(image.height), 8))
        var stride: Int32 = 0
        guard let plane = heif_image_get_plane(picture, heif_channel_interleaved, &stride) else { throw Failure.libheif("no plane") }
        let rowBytes = image.width * image.channels
        image.pixels.withUnsafeBytes { source in
            for row in 0..<image.height {
                (plane + row * Int(stride)).update(from: source.baseAddress!.assumingMemoryBound(to: UInt8.self) + row * rowBytes,
                                                   count: rowBytes)
            }
        }
        if let icc {
            try icc.withUnsafeBytes { try check(heif_image_set_raw_color_profile(picture, "prof", $0.baseAddress, $0.count)) }
        }
        guard let options = heif_encoding_options_alloc() else { throw Failure.libheif("heif_encoding_options_alloc") }
        defer { heif_encoding_options_free(options) }
        options.pointee.image_orientation = heif_orientation(rawValue: UInt32(orientation))
        try check(heif_context_encode_image(context, picture, encoder, options, nil))
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("herd-test-\(UUID().uuidString).heic").path
        defer { try? FileManager.default.removeItem(atPath: path) }
        try check(heif_context_write_to_file(context, path))
        return Array(try Data(contentsOf: URL(fileURLWithPath: path)))
    }

    private static func check(_ error: heif_error) throws {
        guard error.code == heif_error_Ok else {
            throw Failure.libheif(error.message.map { String(cString: $0) } ?? "error \(error.code.rawValue)")
        }
    }
}
