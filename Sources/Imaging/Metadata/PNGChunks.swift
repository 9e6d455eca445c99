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

    /// PNG's big-endian 32-bit word at `at` (the caller checked the bounds).
    static func word(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> Int {
        Int(bytes[at]) << 24 | Int(bytes[at + 1]) << 16 | Int(bytes[at + 2]) << 8 | Int(bytes[at + 3])
    }

    static func read(_ bytes: UnsafeRawBufferPointer, maxICCBytes: Int = 1 << 20) -> Header? {
        guard bytes.count >= 33 else { return nil }
        func u32(_ at: Int) -> Int { word(bytes, at) }
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

    /// The bytes a PNG's image data inflates to: a filter byte and the
    /// packed samples per row, per Adam7 pass when interlaced.
    static func rawImageBytes(width: Int, height: Int, bitDepth: Int, colorType: Int, interlaced: Bool) -> Int {
        let channels = switch colorType {
        case 2: 3
        case 4: 2
        case 6: 4
        default: 1
        }
        let bitsPerPixel = channels * bitDepth
        func rows(_ width: Int, _ height: Int) -> Int {
            width == 0 || height == 0 ? 0 : height * (1 + (width * bitsPerPixel + 7) / 8)
        }
        guard interlaced else { return rows(width, height) }
        let passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
        return passes.reduce(0) { sum, pass in
            sum + rows((width - pass.0 + pass.2 - 1) / pass.2, (height - pass.1 + pass.3 - 1) / pass.3)
        }
    }

    /// Whether the zlib stream in `ranges` of `bytes` ends within `limit`
    /// inflated bytes (a corrupt stream counts as ending: libpng reports it).
    /// libpng inflates whatever follows the image to its end before it
    /// says "too much data", and no time budget interrupts it: a few MB of
    /// compressed zeros after a small image would hold a conversion for
    /// seconds. This pass costs one inflate of the image's own data, in a
    /// 64 KB buffer, and stops at the limit.
    static func imageDataEnds(_ bytes: UnsafeRawBufferPointer, _ ranges: [Range<Int>], within limit: Int) -> Bool {
        var stream = z_stream()
        guard inflateInit_(&stream, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size)) == Z_OK else { return true }
        defer { inflateEnd(&stream) }
        var scratch = [UInt8](repeating: 0, count: 64 << 10)
        return scratch.withUnsafeMutableBufferPointer { out -> Bool in
            for range in ranges where !range.isEmpty {
                stream.next_in = UnsafeMutablePointer(mutating: bytes.baseAddress!.advanced(by: range.lowerBound).assumingMemoryBound(to: UInt8.self))
                stream.avail_in = UInt32(range.count)
                while stream.avail_in > 0 {
                    stream.next_out = out.baseAddress
                    stream.avail_out = UInt32(out.count)
                    let status = CZlib.inflate(&stream, Z_NO_FLUSH)
                    if status == Z_STREAM_END || (status != Z_OK && status != Z_BUF_ERROR) { return true }
                    if Int(stream.total_out) > limit { return false }
                    if status == Z_BUF_ERROR, stream.avail_out > 0 { break }
                }
            }
            return true
        }
    }

    /// The IDAT chunks' data of a PNG, in order.
    static func imageData(_ bytes: UnsafeRawBufferPointer) -> [Range<Int>] {
        var ranges: [Range<Int>] = []
        var offset = 8
        while offset + 8 <= bytes.count {
            let length = word(bytes, offset), data = offset + 8
            guard length <= bytes.count - data else { break }
            if bytes[offset + 4] == 0x49, bytes[offset + 5] == 0x45, bytes[offset + 6] == 0x4e, bytes[offset + 7] == 0x44 { break }  // IEND
            if bytes[offset + 4] == 0x49, bytes[offset + 5] == 0x44, bytes[offset + 6] == 0x41, bytes[offset + 7] == 0x54 {  // IDAT
                ranges.append(data..<(data + length))
            }
            offset = data + length + 4
        }
        return ranges
    }

    /// Image data compressed to more than this is checked before libpng
    /// reads it (`imageDataEnds`); under it, the most libpng could inflate
    /// past the image is ~66 MB (zlib's ratio is at most 1032:1): a
    /// fraction of a second.
    static let checkedImageDataBytes = 64 << 10

    /// Whether libpng may be given the image data in `ranges` of a PNG
    /// (its IHDR says the sample layout), for an image of `width` ×
    /// `height`: small enough not to matter, or ending within the image's
    /// size plus 64 KB of slack.
    static func imageDataFits(_ bytes: UnsafeRawBufferPointer, _ ranges: [Range<Int>], width: Int, height: Int) -> Bool {
        guard ranges.reduce(0, { $0 + $1.count }) > checkedImageDataBytes else { return true }
        let raw = rawImageBytes(width: width, height: height, bitDepth: Int(bytes[24]), colorType: Int(bytes[25]),
                                interlaced: bytes[28] != 0)
        return imageDataEnds(bytes, ranges, within: raw + (64 << 10))
    }

    /// `imageDataFits` for a still PNG: its IDAT chunks, at IHDR's size.
    static func imageDataFits(_ bytes: UnsafeRawBufferPointer) -> Bool {
        guard bytes.count >= 29 else { return true }  // libpng refuses it
        let width = word(bytes, 16), height = word(bytes, 20)
        return width <= 65_535 && height <= 65_535 && imageDataFits(bytes, imageData(bytes), width: width, height: height)
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
