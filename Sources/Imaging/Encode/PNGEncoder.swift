import CPNG

/// PNG with libpng's simplified API: for a preview with transparency sent
/// to a client that accepts neither AVIF nor WebP (a JPEG would lose the
/// transparency). Only previews write PNG; conversions never choose it.
enum PNGEncoder {
    static func encode(_ image: RasterImage) throws(ImageError) -> [UInt8] {
        var description = png_image()
        description.version = UInt32(PNG_IMAGE_VERSION)
        description.width = UInt32(image.width)
        description.height = UInt32(image.height)
        // PNG_FORMAT_RGBA (colour | alpha) or PNG_FORMAT_RGB (colour).
        description.format = image.hasAlpha ? 3 : 2
        let stride = Int32(image.width * image.channels)
        var size: png_alloc_size_t = 0
        let measured = image.pixels.withUnsafeBytes { pixels in
            png_image_write_to_memory(&description, nil, &size, 0, pixels.baseAddress, stride, nil)
        }
        guard measured != 0, size > 0 else { throw ImageError(.encodeFailed, "PNG: cannot measure (\(description.warning_or_error))") }
        var output = [UInt8](repeating: 0, count: Int(size))
        let written = output.withUnsafeMutableBytes { memory in
            image.pixels.withUnsafeBytes { pixels in
                png_image_write_to_memory(&description, memory.baseAddress, &size, 0, pixels.baseAddress, stride, nil)
            }
        }
        png_image_free(&description)
        guard written != 0 else { throw ImageError(.encodeFailed, "PNG: write failed") }
        return Array(output.prefix(Int(size)))
    }
}
