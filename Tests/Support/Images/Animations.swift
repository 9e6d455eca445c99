import CAVIF
import CGIF
import CWebP
import Imaging

/// Animated test images: GIFs written frame by frame with giflib (each
/// frame a rectangle of one colour, its delay and disposal), and animated
/// WebP read back with libwebpdemux's WebPAnimDecoder, which composites
/// every frame as a browser shows it.
extension TestImages {
    public struct GIFFrame: Sendable {
        public var left, top, width, height: Int
        public var color: (UInt8, UInt8, UInt8)
        /// Centiseconds, as GIF stores them.
        public var delay: Int
        /// 0/1 keep, 2 restore to background, 3 restore to previous.
        public var disposal: Int

        public init(left: Int, top: Int, width: Int, height: Int, color: (UInt8, UInt8, UInt8), delay: Int, disposal: Int = 1) {
            (self.left, self.top, self.width, self.height) = (left, top, width, height)
            self.color = color
            self.delay = delay
            self.disposal = disposal
        }
    }

    /// `loop`: the NETSCAPE2.0 count (nil: no loop extension, plays once).
    public static func animatedGIF(width: Int, height: Int, frames: [GIFFrame], loop: Int? = 0) -> [UInt8] {
        // Index 0 transparent; one index per frame colour.
        let colors = [GifColorType(Red: 0, Green: 0, Blue: 0)] + frames.map { GifColorType(Red: $0.color.0, Green: $0.color.1, Blue: $0.color.2) }
        return writeGIF(width: width, height: height, colors: colors) { file in
            if let loop {
                var name = Array("NETSCAPE2.0".utf8)
                var count: [GifByteType] = [1, UInt8(loop & 0xff), UInt8(loop >> 8)]
                EGifPutExtensionLeader(file, APPLICATION_EXT_FUNC_CODE)
                EGifPutExtensionBlock(file, 11, &name)
                EGifPutExtensionBlock(file, 3, &count)
                EGifPutExtensionTrailer(file)
            }
            for (index, frame) in frames.enumerated() {
                putGraphicsControl(file, disposal: frame.disposal, delay: frame.delay)
                EGifPutImageDesc(file, Int32(frame.left), Int32(frame.top), Int32(frame.width), Int32(frame.height), false, nil)
                for _ in 0..<frame.height {
                    var line = [GifPixelType](repeating: GifPixelType(index + 1), count: frame.width)
                    EGifPutLine(file, &line, Int32(frame.width))
                }
            }
        }
    }

    public struct Animation {
        public var width: Int
        public var height: Int
        public var loopCount: Int
        /// Each frame composited (RGBA) and the time it ends, in ms.
        public var frames: [(image: RasterImage, endMs: Int)]
    }

    /// An animated WebP decoded frame by frame; nil when libwebp refuses it.
    public static func decodeAnimatedWebP(_ bytes: [UInt8]) -> Animation? {
        bytes.withUnsafeBufferPointer { buffer -> Animation? in
            var data = WebPData(bytes: buffer.baseAddress, size: buffer.count)
            var options = WebPAnimDecoderOptions()
            guard herd_webp_anim_decoder_options_init(&options) != 0 else { return nil }
            options.color_mode = MODE_RGBA
            guard let decoder = herd_webp_anim_decoder_new(&data, &options) else { return nil }
            defer { WebPAnimDecoderDelete(decoder) }
            var info = WebPAnimInfo()
            guard WebPAnimDecoderGetInfo(decoder, &info) != 0 else { return nil }
            let width = Int(info.canvas_width), height = Int(info.canvas_height)
            var frames: [(RasterImage, Int)] = []
            while WebPAnimDecoderHasMoreFrames(decoder) != 0 {
                var pixels: UnsafeMutablePointer<UInt8>? = nil
                var timestamp: Int32 = 0
                guard WebPAnimDecoderGetNext(decoder, &pixels, &timestamp) != 0, let pixels else { return nil }
                let copy = Array(UnsafeBufferPointer(start: pixels, count: width * height * 4))
                frames.append((RasterImage(width: width, height: height, channels: 4, pixels: copy), Int(timestamp)))
            }
            return Animation(width: width, height: height, loopCount: Int(info.loop_count), frames: frames)
        }
    }

    /// An AVIF image sequence decoded frame by frame (libavif); nil when
    /// it is not one it reads.
    public static func decodeAVIFSequence(_ bytes: [UInt8]) -> Animation? {
        guard let decoder = avifDecoderCreate() else { return nil }
        defer { avifDecoderDestroy(decoder) }
        return bytes.withUnsafeBufferPointer { buffer -> Animation? in
            guard avifDecoderSetIOMemory(decoder, buffer.baseAddress, buffer.count) == AVIF_RESULT_OK,
                  avifDecoderParse(decoder) == AVIF_RESULT_OK else { return nil }
            var frames: [(RasterImage, Int)] = []
            var end = 0
            while avifDecoderNextImage(decoder) == AVIF_RESULT_OK, let image = decoder.pointee.image {
                var rgb = avifRGBImage()
                avifRGBImageSetDefaults(&rgb, image)
                rgb.format = AVIF_RGB_FORMAT_RGBA
                rgb.depth = 8
                let width = Int(image.pointee.width), height = Int(image.pointee.height)
                var pixels = [UInt8](repeating: 0, count: width * height * 4)
                let converted = pixels.withUnsafeMutableBufferPointer { out -> avifResult in
                    rgb.pixels = out.baseAddress
                    rgb.rowBytes = UInt32(width * 4)
                    return avifImageYUVToRGB(image, &rgb)
                }
                guard converted == AVIF_RESULT_OK else { return nil }
                end += Int((decoder.pointee.imageTiming.duration * 1000).rounded())
                frames.append((RasterImage(width: width, height: height, channels: 4, pixels: pixels), end))
            }
            guard let first = frames.first else { return nil }
            return Animation(width: first.0.width, height: first.0.height, loopCount: 0, frames: frames)
        }
    }

    /// RGBA at (x, y).
    public static func pixel(_ image: RasterImage, _ x: Int, _ y: Int) -> (Int, Int, Int, Int) {
        let at = (y * image.width + x) * image.channels
        let p = image.pixels
        return (Int(p[at]), Int(p[at + 1]), Int(p[at + 2]), image.channels == 4 ? Int(p[at + 3]) : 255)
    }
}

// MARK: APNG (assembled from libpng-written PNGs: their IDAT data becomes
// the frames' IDAT or fdAT, with acTL and fcTL chunks around them)

extension TestImages {
    public struct APNGFrame: Sendable {
        public var image: RasterImage
        public var left, top: Int
        public var delayMs: Int
        /// 0 none, 1 background (transparent), 2 previous.
        public var dispose: UInt8
        /// 0 source, 1 over.
        public var blend: UInt8
        /// fcTL's delay_den: `delayMs` is in 1/1000 s unless set.
        public var delayDenominator = 1000

        public init(_ image: RasterImage, left: Int = 0, top: Int = 0, delayMs: Int, dispose: UInt8 = 0, blend: UInt8 = 0) {
            self.image = image
            (self.left, self.top) = (left, top)
            self.delayMs = delayMs
            (self.dispose, self.blend) = (dispose, blend)
        }
    }

    /// An APNG whose canvas is the first frame's size. `plays`: acTL's
    /// num_plays (0 forever). `hiddenDefault`: a default image (the
    /// first frame's pixels, inverted) that is not part of the animation.
    public static func apng(_ frames: [APNGFrame], plays: Int = 0, hiddenDefault: Bool = false) -> [UInt8] {
        func be32(_ value: Int) -> [UInt8] { [UInt8(value >> 24 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
        func be16(_ value: Int) -> [UInt8] { [UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
        let chunk = pngChunk
        /// IHDR's data and the concatenated IDAT data of a PNG.
        func parts(_ png: [UInt8]) -> (ihdr: [UInt8], data: [UInt8]) {
            var offset = 8, ihdr: [UInt8] = [], data: [UInt8] = []
            while offset + 12 <= png.count {
                let length = Int(png[offset]) << 24 | Int(png[offset + 1]) << 16 | Int(png[offset + 2]) << 8 | Int(png[offset + 3])
                let type = String(decoding: png[(offset + 4)..<(offset + 8)], as: UTF8.self)
                let body = Array(png[(offset + 8)..<(offset + 8 + length)])
                if type == "IHDR" { ihdr = body }
                if type == "IDAT" { data += body }
                offset += 12 + length
            }
            return (ihdr, data)
        }
        let first = frames[0].image
        var out: [UInt8] = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]
        out += chunk("IHDR", parts(png(first, kind: .rgba)).ihdr)
        out += chunk("acTL", be32(frames.count) + be32(plays))
        var sequence = 0
        func control(_ frame: APNGFrame) -> [UInt8] {
            defer { sequence += 1 }
            return chunk("fcTL", be32(sequence) + be32(frame.image.width) + be32(frame.image.height) + be32(frame.left) + be32(frame.top)
                         + be16(frame.delayMs) + be16(frame.delayDenominator) + [frame.dispose, frame.blend])
        }
        if hiddenDefault {
            var inverted = withAlpha(first)
            for index in stride(from: 0, to: inverted.pixels.count, by: 4) {
                for channel in 0..<3 { inverted.pixels[index + channel] = 255 - inverted.pixels[index + channel] }
            }
            out += chunk("IDAT", parts(png(inverted, kind: .rgba)).data)
        }
        for (index, frame) in frames.enumerated() {
            out += control(frame)
            let data = parts(png(frame.image, kind: .rgba)).data
            if index == 0, !hiddenDefault {
                out += chunk("IDAT", data)
            } else {
                out += chunk("fdAT", be32(sequence) + data)
                sequence += 1
            }
        }
        out += chunk("IEND", [])
        return out
    }

    /// A solid RGBA rectangle.
    public static func solid(width: Int, height: Int, _ color: (UInt8, UInt8, UInt8), alpha: UInt8 = 255) -> RasterImage {
        RasterImage(width: width, height: height, channels: 4,
                    pixels: (0..<(width * height)).flatMap { _ in [color.0, color.1, color.2, alpha] })
    }

    /// One PNG chunk: length, type, data, CRC.
    public static func pngChunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
        func be32(_ value: Int) -> [UInt8] { [UInt8(value >> 24 & 0xff), UInt8(value >> 16 & 0xff), UInt8(value >> 8 & 0xff), UInt8(value & 0xff)] }
        let typed = Array(type.utf8) + data
        return be32(data.count) + typed + be32(Int(crc32(typed)))
    }

    public static func crc32(_ bytes: [UInt8]) -> UInt32 {
        var crc: UInt32 = 0xffff_ffff
        for byte in bytes {
            crc ^= UInt32(byte)
            for _ in 0..<8 { crc = crc & 1 == 1 ? (crc >> 1) ^ 0xedb8_8320 : crc >> 1 }
        }
        return ~crc
    }
}
