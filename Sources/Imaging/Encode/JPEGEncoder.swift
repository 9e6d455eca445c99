import CTurboJPEG

/// Progressive JPEG with libturbojpeg (progressive mode always uses
/// optimized Huffman tables), 4:2:0, ICC profile re-attached as APP2.
enum JPEGEncoder {
    static func encode(_ image: RasterImage, settings: EncoderSettings) throws(ImageError) -> [UInt8] {
        let flat = image.flattened()  // a JPEG has no alpha: composite on white
        let handle = try TurboJPEG(decompress: false)
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        let status = flat.pixels.withUnsafeBufferPointer { pixels in
            tjCompress2(handle.raw, pixels.baseAddress, Int32(flat.width), 0, Int32(flat.height), Int32(TJPF_RGB.rawValue),
                        &buffer, &size, Int32(TJSAMP_420.rawValue), Int32(settings.jpegQuality), Int32(TJFLAG_PROGRESSIVE))
        }
        defer { if let buffer { tjFree(buffer) } }
        guard status == 0, let buffer else { throw ImageError(.encodeFailed, "JPEG: \(handle.lastError)") }
        let encoded = Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
        guard let profile = image.iccProfile, !profile.isEmpty else { return encoded }
        // After SOI and the JFIF APP0 segment that libturbojpeg writes.
        var insertAt = 2
        if encoded.count > 6, encoded[2] == 0xFF, encoded[3] == 0xE0 {
            insertAt = 4 + (Int(encoded[4]) << 8 | Int(encoded[5]))
        }
        return Array(encoded[0..<insertAt]) + JPEGSegments.iccSegments(profile) + Array(encoded[insertAt...])
    }
}
