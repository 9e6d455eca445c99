import CHEIF

/// HEIC/HEIF stills (iPhone photos) through libheif: the primary image,
/// read here for its size (the probe); decoded in a worker's bounded child
/// process only (HEIFDecodeChild in Media), never in the worker itself:
/// with libheif's transformations (rotation, mirror, crop) applied, as
/// the file says it should be shown. Sizes are read from the container
/// before anything is decoded, so the pixel cap applies first.
final class HEIFFile {
    private let context: OpaquePointer
    private let handle: OpaquePointer

    /// libheif's decoder plugins are registered once per process.
    private static let initialised: Bool = {
        _ = heif_init(nil)
        return true
    }()

    init(_ bytes: UnsafeRawBufferPointer) throws(ImageError) {
        _ = Self.initialised
        guard let context = heif_context_alloc() else { throw ImageError(.unsupported, "heif_context_alloc") }
        // libheif's own cap on a side, besides herd's pixel cap.
        heif_context_set_maximum_image_size_limit(context, 65_535)
        // Tiles decoded in this thread: one conversion, one core (the
        // conversion limiter counts it so), and no decoder thread pool.
        heif_context_set_max_decoding_threads(context, 0)
        let read = heif_context_read_from_memory_without_copy(context, bytes.baseAddress, bytes.count, nil)
        guard read.code == heif_error_Ok else {
            // The message lives in the context: read it before freeing.
            let message = Self.message(read)
            heif_context_free(context)
            throw ImageError(.corrupt, "HEIF: \(message)")
        }
        var handle: OpaquePointer?
        let primary = heif_context_get_primary_image_handle(context, &handle)
        guard primary.code == heif_error_Ok, let handle else {
            let message = Self.message(primary)
            heif_context_free(context)
            throw ImageError(.corrupt, "HEIF primary image: \(message)")
        }
        self.context = context
        self.handle = handle
    }

    deinit {
        heif_image_handle_release(handle)
        heif_context_free(context)
    }

    /// The size the image is shown at (after rotation and crop).
    var width: Int { Int(heif_image_handle_get_width(handle)) }
    var height: Int { Int(heif_image_handle_get_height(handle)) }
    var hasAlpha: Bool { heif_image_handle_has_alpha_channel(handle) != 0 }

    /// The embedded ICC profile (iPhones embed Display P3), if any.
    var iccProfile: [UInt8]? {
        let size = heif_image_handle_get_raw_color_profile_size(handle)
        guard size > 0, size <= 4 << 20 else { return nil }
        var profile = [UInt8](repeating: 0, count: size)
        let read = profile.withUnsafeMutableBytes { heif_image_handle_get_raw_color_profile(handle, $0.baseAddress) }
        return read.code == heif_error_Ok ? profile : nil
    }

    /// Decodes the primary image to 8-bit RGB(A), transformations applied.
    func decode() throws(ImageError) -> RasterImage {
        let channels = hasAlpha ? 4 : 3
        var image: OpaquePointer?
        let decoded = heif_decode_image(handle, &image, heif_colorspace_RGB,
                                        channels == 4 ? heif_chroma_interleaved_RGBA : heif_chroma_interleaved_RGB, nil)
        guard decoded.code == heif_error_Ok, let image else { throw ImageError(.corrupt, "HEIF decode: \(Self.message(decoded))") }
        defer { heif_image_release(image) }
        let width = Int(heif_image_get_width(image, heif_channel_interleaved))
        let height = Int(heif_image_get_height(image, heif_channel_interleaved))
        guard width == self.width, height == self.height else {
            throw ImageError(.corrupt, "HEIF decoded to \(width)×\(height), not the \(self.width)×\(self.height) it declares")
        }
        var stride: Int32 = 0
        guard let plane = heif_image_get_plane_readonly(image, heif_channel_interleaved, &stride), stride > 0 else {
            throw ImageError(.corrupt, "HEIF: no interleaved plane")
        }
        let rowBytes = width * channels
        var pixels = [UInt8](repeating: 0, count: rowBytes * height)
        pixels.withUnsafeMutableBytes { target in
            for row in 0..<height {
                (target.baseAddress! + row * rowBytes).copyMemory(from: plane + row * Int(stride), byteCount: rowBytes)
            }
        }
        return RasterImage(width: width, height: height, channels: channels, pixels: pixels, iccProfile: iccProfile)
    }

    private static func message(_ error: heif_error) -> String {
        error.message.map { String(cString: $0) } ?? "error \(error.code.rawValue)"
    }
}
