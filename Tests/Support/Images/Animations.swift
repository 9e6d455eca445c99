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
