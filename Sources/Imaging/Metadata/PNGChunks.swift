import CZlib

/// Reads a PNG's header and its ICC profile (iCCP) without decoding pixels.
enum PNGChunks {
    struct Header {
        var width: Int
        var height: Int
        var iccProfile: [UInt8]?
        /// Animated PNG (acTL chunk before the image data).
        var isAnimated: Bool
        /// An APNG's frames (its fcTL chunks, counted to the end of the
        /// file, so that the caps on frames apply before decoding); 1 for
        /// a still.
        var frames = 1
    }

    static func read(_ bytes: UnsafeRawBufferPointer, maxICCBytes: Int = 1 << 20) -> Header? {
        guard bytes.count >= 33 else { return nil }
        func u32(_ at: Int) -> Int { Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3]) }
        guard bytes[12] == 0x49, bytes[13] == 0x48, bytes[14] == 0x44, bytes[15] == 0x52 else { return nil }  // IHDR
        var header = Header(width: u32(16), height: u32(20), iccProfile: nil, isAnimated: false)
        var offset = 8
        var controls = 0
        var pixelsBegun = false
        while offset + 8 <= bytes.count {
            let length = u32(offset)
            let type = String(decoding: UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + 8)]), as: UTF8.self)
            let dataStart = offset + 8
            guard length >= 0, dataStart + length <= bytes.count else { break }
            if type == "IEND" { break }
            if type == "IDAT" {
                // An APNG's frames are counted to the end; nothing else
                // is read past the image data.
                guard header.isAnimated else { break }
                pixelsBegun = true
            }
            if type == "acTL", length == 8, !pixelsBegun { header.isAnimated = true }
            if type == "fcTL" { controls += 1 }
            if type == "iCCP", !pixelsBegun {
                let data = UnsafeRawBufferPointer(rebasing: bytes[dataStart..<(dataStart + length)])
                if let nul = data.firstIndex(of: 0), nul + 2 <= data.count {
                    header.iccProfile = inflate(UnsafeRawBufferPointer(rebasing: data[(nul + 2)...]), limit: maxICCBytes)
                }
            }
            offset = dataStart + length + 4
        }
        if header.isAnimated { header.frames = controls }
        return header
    }

    /// zlib-inflates at most `limit` bytes; nil if the data is bad or larger.
    static func inflate(_ compressed: UnsafeRawBufferPointer, limit: Int) -> [UInt8]? {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return nil }
        defer { inflateEnd(&stream) }
        var output = [UInt8](repeating: 0, count: limit)
        let status: Int32 = compressed.withMemoryRebound(to: UInt8.self) { input in
            output.withUnsafeMutableBufferPointer { out in
                stream.next_in = UnsafeMutablePointer(mutating: input.baseAddress)
                stream.avail_in = UInt32(input.count)
                stream.next_out = out.baseAddress
                stream.avail_out = UInt32(out.count)
                return CZlib.inflate(&stream, Z_FINISH)
            }
        }
        guard status == Z_STREAM_END else { return nil }
        return Array(output[0..<Int(stream.total_out)])
    }
}
