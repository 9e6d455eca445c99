import CPNG
import CZlib

/// An animated PNG (APNG) played as browsers play it. Debian's libpng has
/// no APNG support, so the chunks are read here: each frame's data (IDAT
/// for a first frame that is the default image, fdAT otherwise) becomes a
/// PNG of its own — the file's IHDR with the frame's size, the chunks that
/// say how to read its pixels (PLTE, tRNS, gAMA, cHRM, sRGB, sBIT), its
/// data, IEND — which libpng decodes; the frames are composited with their
/// blend and dispose operations (https://wiki.mozilla.org/APNG_Specification).
///
/// Checked before any pixel is decoded, as browsers check: every frame lies
/// within the canvas (the first covers it), its operations are known, its
/// data is there, the chunks' CRCs and sequence numbers are right. The
/// caps on frames and on pixels over all frames are the probe's (it counts
/// the fcTL chunks, `PNGChunks`). `bytes` must outlive it.
final class APNGFile: AnimationSource {
    struct Frame {
        var width, left: Int
        var height, top: Int
        var durationMs: Int
        /// 0 none, 1 to transparent, 2 to the previous canvas.
        var dispose: UInt8
        /// 0 source (replace), 1 over (alpha-composite).
        var blend: UInt8
        /// Where its compressed data lies in the file (fdAT: after the
        /// sequence number).
        var data: [Range<Int>] = []
    }

    private let bytes: UnsafeRawBufferPointer
    private let header: Range<Int>
    /// PLTE, tRNS and the colour chunks, whole (length, type, data, CRC).
    private let decodingChunks: [Range<Int>]
    let width: Int
    let height: Int
    let loopCount: Int
    let mayBeTransparent: Bool
    let frames: [Frame]

    init(_ bytes: UnsafeRawBufferPointer, maxFrames: Int = 1_000) throws(ImageError) {
        func u32(_ at: Int) -> Int { PNGChunks.word(bytes, at) }
        func u16(_ at: Int) -> Int { Int(bytes[at]) << 8 | Int(bytes[at + 1]) }
        guard bytes.count >= 33, bytes.prefix(8).elementsEqual([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
              u32(8) == 13, Self.type(bytes, 12) == "IHDR" else { throw ImageError(.corrupt, "APNG: no PNG header") }
        self.bytes = bytes
        header = 16..<29
        width = u32(16)
        height = u32(20)
        guard (1...65_535).contains(width), (1...65_535).contains(height) else { throw ImageError(.corrupt, "APNG: \(width)×\(height)") }
        let colorType = bytes[25]
        var transparent = colorType & 4 != 0
        var plays: Int?
        var decoding: [Range<Int>] = []
        var seenTypes: Set<String> = []
        var frames: [Frame] = []
        var defaultImageIsFrame: Bool?  // nil until the first IDAT
        var imageDataEnded = false      // the IDAT chunks are consecutive
        var sequence = 0                // fcTL and fdAT share one count from 0
        func checked(_ offset: Int, _ length: Int, _ type: String) throws(ImageError) {
            let stored = UInt32(u32(offset + 8 + length))
            let computed = UInt32(crc32(0, bytes.baseAddress!.advanced(by: offset + 4).assumingMemoryBound(to: UInt8.self),
                                        UInt32(length + 4)))
            guard stored == computed else { throw ImageError(.corrupt, "APNG: \(type) CRC mismatch") }
        }
        func sequenced(_ at: Int, _ type: String) throws(ImageError) {
            guard u32(at) == sequence else { throw ImageError(.corrupt, "APNG: \(type) out of sequence") }
            sequence += 1
        }
        var offset = 33
        while offset + 12 <= bytes.count {
            let length = u32(offset)
            let type = Self.type(bytes, offset + 4)
            let data = offset + 8
            guard length <= bytes.count - data - 4 else { throw ImageError(.corrupt, "APNG: chunk \(type) runs past the end") }
            if type != "IDAT", defaultImageIsFrame != nil { imageDataEnded = true }
            switch type {
            case "acTL" where length == 8 && defaultImageIsFrame == nil && plays == nil:
                try checked(offset, length, type)
                plays = u32(data + 4)
            case "PLTE", "tRNS", "gAMA", "cHRM", "sRGB", "sBIT":
                // Copied into every frame's PNG: the first of each, of the
                // size the specification gives it (libpng checks its CRC).
                let sizes: ClosedRange<Int> = switch type {
                case "PLTE": 3...768
                case "tRNS": 1...256
                case "gAMA": 4...4
                case "cHRM": 32...32
                case "sRGB": 1...1
                default: 1...4
                }
                if defaultImageIsFrame == nil, sizes.contains(length), !seenTypes.contains(type) {
                    seenTypes.insert(type)
                    decoding.append(offset..<(data + length + 4))
                }
                if type == "tRNS" { transparent = true }
            case "fcTL":
                guard length == 26 else { throw ImageError(.corrupt, "APNG: fcTL of \(length) bytes") }
                try checked(offset, length, type)
                try sequenced(data, type)
                guard frames.count < maxFrames else { throw ImageError(.tooManyFrames, "APNG: over \(maxFrames) frames") }
                let numerator = u16(data + 20), denominator = u16(data + 22)
                let delay = (numerator * 1000 + (denominator == 0 ? 100 : denominator) / 2) / (denominator == 0 ? 100 : denominator)
                var frame = Frame(width: u32(data + 4), left: u32(data + 12), height: u32(data + 8), top: u32(data + 16),
                                  durationMs: AnimationTiming.shown(delay), dispose: bytes[data + 24], blend: bytes[data + 25])
                guard frame.width > 0, frame.height > 0, frame.left <= width - frame.width, frame.top <= height - frame.height,
                      frame.dispose <= 2, frame.blend <= 1 else {
                    throw ImageError(.corrupt, "APNG: frame \(frames.count) outside the canvas or with unknown operations")
                }
                if frames.isEmpty {
                    guard frame.left == 0, frame.top == 0, frame.width == width, frame.height == height else {
                        throw ImageError(.corrupt, "APNG: the first frame does not cover the canvas")
                    }
                    // "If the first fcTL's dispose_op is APNG_DISPOSE_OP_PREVIOUS
                    // it should be treated as APNG_DISPOSE_OP_BACKGROUND."
                    if frame.dispose == 2 { frame.dispose = 1 }
                }
                if frame.dispose == 1 || frame.width != width || frame.height != height { transparent = true }
                frames.append(frame)
            case "IDAT":
                guard !imageDataEnded else { throw ImageError(.corrupt, "APNG: IDAT chunks apart") }
                try checked(offset, length, type)
                if defaultImageIsFrame == nil {
                    // The default image is the first frame when its fcTL
                    // came first; otherwise it is not part of the animation.
                    guard frames.count <= 1 else { throw ImageError(.corrupt, "APNG: frames before the default image") }
                    defaultImageIsFrame = frames.count == 1
                }
                if defaultImageIsFrame == true { frames[0].data.append(data..<(data + length)) }
            case "fdAT":
                guard length > 4, defaultImageIsFrame != nil, let last = frames.indices.last,
                      last > 0 || defaultImageIsFrame == false else { throw ImageError(.corrupt, "APNG: fdAT without its frame") }
                try checked(offset, length, type)
                try sequenced(data, type)
                frames[last].data.append((data + 4)..<(data + length))
            case "IEND":
                offset = bytes.count
                continue
            default:
                break
            }
            offset = data + length + 4
        }
        guard let plays else { throw ImageError(.corrupt, "APNG: no acTL") }
        // A frame without data cannot be shown: the file is cut or broken.
        guard defaultImageIsFrame != nil, !frames.isEmpty, frames.allSatisfy({ !$0.data.isEmpty }) else { throw ImageError(.corrupt, "APNG: a frame has no data") }
        decodingChunks = decoding
        loopCount = AnimationTiming.loops(plays)
        mayBeTransparent = transparent
        self.frames = frames
    }

    private static func type(_ bytes: UnsafeRawBufferPointer, _ at: Int) -> String {
        String(decoding: UnsafeRawBufferPointer(rebasing: bytes[at..<(at + 4)]), as: UTF8.self)
    }

    func play(frame emit: (_ canvas: [UInt8], _ startMs: Int, _ durationMs: Int) throws(ImageError) -> Void) throws(ImageError) -> Int {
        var canvas = [UInt8](repeating: 0, count: width * height * 4)
        var start = 0
        for (index, frame) in frames.enumerated() {
            let pixels = try decode(frame, index: index)
            let previous = frame.dispose == 2 ? canvas : nil
            composite(pixels, frame, onto: &canvas)
            try emit(canvas, start, frame.durationMs)
            start += frame.durationMs
            switch frame.dispose {
            case 1: clear(frame, in: &canvas)
            case 2: if let previous { canvas = previous }
            default: break
            }
        }
        return start
    }

    /// The frame's pixels, RGBA, decoded by libpng from a PNG made of it.
    private func decode(_ frame: Frame, index: Int) throws(ImageError) -> [UInt8] {
        guard PNGChunks.imageDataFits(bytes, frame.data, width: frame.width, height: frame.height) else {
            throw ImageError(.corrupt, "APNG: frame \(index) has more image data than its size holds")
        }
        var png: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
        var ihdr = Array(bytes[header])
        for (at, value) in [(0, frame.width), (4, frame.height)] {
            for shift in 0..<4 { ihdr[at + shift] = UInt8(truncatingIfNeeded: value >> (24 - 8 * shift)) }
        }
        Self.append(chunk: "IHDR", ihdr, to: &png)
        for range in decodingChunks { png += bytes[range] }
        var data: [UInt8] = []
        data.reserveCapacity(frame.data.reduce(0) { $0 + $1.count })
        for range in frame.data { data += bytes[range] }
        Self.append(chunk: "IDAT", data, to: &png)
        Self.append(chunk: "IEND", [], to: &png)

        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        let pixels: [UInt8]? = png.withUnsafeBytes { source in
            guard png_image_begin_read_from_memory(&image, source.baseAddress, source.count) != 0 else { return nil }
            defer { png_image_free(&image) }
            guard Int(image.width) == frame.width, Int(image.height) == frame.height else { return nil }
            image.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
            image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)  // as Decode.png
            var pixels = [UInt8](repeating: 0, count: frame.width * frame.height * 4)
            let ok = pixels.withUnsafeMutableBytes { png_image_finish_read(&image, nil, $0.baseAddress, 0, nil) }
            return ok != 0 ? pixels : nil
        }
        guard let pixels else { throw ImageError(.corrupt, "APNG: frame \(index) does not decode") }
        return pixels
    }

    private static func append(chunk type: String, _ data: [UInt8], to png: inout [UInt8]) {
        let length = data.count
        png += [UInt8(length >> 24 & 0xff), UInt8(length >> 16 & 0xff), UInt8(length >> 8 & 0xff), UInt8(length & 0xff)]
        let typed = Array(type.utf8) + data
        png += typed
        let crc = typed.withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
        png += [UInt8(crc >> 24), UInt8(crc >> 16 & 0xff), UInt8(crc >> 8 & 0xff), UInt8(crc & 0xff)]
    }

    /// Source: the frame's pixels replace the region's. Over: alpha
    /// compositing of straight (not premultiplied) RGBA.
    private func composite(_ pixels: [UInt8], _ frame: Frame, onto canvas: inout [UInt8]) {
        let width = self.width
        canvas.withUnsafeMutableBufferPointer { out in
            pixels.withUnsafeBufferPointer { source in
                for y in 0..<frame.height {
                    var target = ((frame.top + y) * width + frame.left) * 4
                    var from = y * frame.width * 4
                    for _ in 0..<frame.width {
                        let alpha = Int(source[from + 3])
                        if frame.blend == 0 || alpha == 255 {
                            for channel in 0..<4 { out[target + channel] = source[from + channel] }
                        } else if alpha > 0 {
                            let below = Int(out[target + 3]) * (255 - alpha) / 255
                            let total = alpha + below
                            for channel in 0..<3 {
                                out[target + channel] = UInt8((Int(source[from + channel]) * alpha + Int(out[target + channel]) * below
                                                               + total / 2) / total)
                            }
                            out[target + 3] = UInt8(total)
                        }
                        target += 4
                        from += 4
                    }
                }
            }
        }
    }

    private func clear(_ frame: Frame, in canvas: inout [UInt8]) {
        let width = self.width
        canvas.withUnsafeMutableBufferPointer { out in
            for y in frame.top..<(frame.top + frame.height) {
                let start = (y * width + frame.left) * 4
                for index in start..<(start + frame.width * 4) { out[index] = 0 }
            }
        }
    }
}
