import CGIF
import Foundation
import CPNG
import CTurboJPEG
@testable import Imaging

/// Images made in the tests from known pixels, with the real libraries, so
/// every decoder path and metadata case can be checked pixel by pixel.
public enum TestImages {
    public static let red: (UInt8, UInt8, UInt8) = (230, 20, 20)
    public static let green: (UInt8, UInt8, UInt8) = (20, 210, 20)
    public static let blue: (UInt8, UInt8, UInt8) = (20, 20, 230)
    public static let yellow: (UInt8, UInt8, UInt8) = (235, 225, 20)

    /// Four flat quadrants: red top-left, green top-right, blue bottom-left,
    /// yellow bottom-right. Orientation mistakes move the colours.
    public static func quadrants(width: Int = 96, height: Int = 64, alpha: Bool = false) -> RasterImage {
        let channels = alpha ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        for y in 0..<height {
            for x in 0..<width {
                let color = y < height / 2 ? (x < width / 2 ? red : green) : (x < width / 2 ? blue : yellow)
                let at = (y * width + x) * channels
                pixels[at] = color.0
                pixels[at + 1] = color.1
                pixels[at + 2] = color.2
                // With alpha: the bottom half is fully transparent.
                if alpha { pixels[at + 3] = y < height / 2 ? 255 : 0 }
            }
        }
        return RasterImage(width: width, height: height, channels: channels, pixels: pixels)
    }

    /// A photo-like image (smooth gradients and some texture) of any size.
    public static func photo(width: Int, height: Int) -> RasterImage {
        var pixels = [UInt8](repeating: 0, count: width * height * 3)
        var seed: UInt32 = 12345
        for y in 0..<height {
            for x in 0..<width {
                seed = seed &* 1_103_515_245 &+ 12345
                let noise = Int((seed >> 16) & 15) - 8
                let at = (y * width + x) * 3
                pixels[at] = UInt8(clamping: x * 255 / max(1, width) + noise)
                pixels[at + 1] = UInt8(clamping: y * 255 / max(1, height) + noise)
                pixels[at + 2] = UInt8(clamping: (x + y) * 128 / max(1, width + height) + 64 + noise)
            }
        }
        return RasterImage(width: width, height: height, channels: 3, pixels: pixels)
    }

    // MARK: JPEG

    public enum JPEGKind: Sendable { case baseline, progressive, grayscale, cmyk }

    public static func jpeg(_ image: RasterImage, kind: JPEGKind = .baseline, quality: Int = 92) -> [UInt8] {
        let handle = tjInitCompress()!
        defer { tjDestroy(handle) }
        var buffer: UnsafeMutablePointer<UInt8>? = nil
        var size: UInt = 0
        var pixels = image.flattened().pixels
        var format = TJPF_RGB
        var subsampling = TJSAMP_444
        switch kind {
        case .grayscale:
            subsampling = TJSAMP_GRAY
        case .cmyk:
            // Inverted (Adobe) CMYK from RGB, the way Photoshop writes it.
            format = TJPF_CMYK
            var cmyk = [UInt8](repeating: 0, count: image.width * image.height * 4)
            for pixel in 0..<(image.width * image.height) {
                let r = Int(pixels[pixel * 3]), g = Int(pixels[pixel * 3 + 1]), b = Int(pixels[pixel * 3 + 2])
                let k = max(r, g, b)
                cmyk[pixel * 4 + 3] = UInt8(k)
                for (index, value) in [r, g, b].enumerated() {
                    cmyk[pixel * 4 + index] = k == 0 ? 0 : UInt8(value * 255 / k)
                }
            }
            pixels = cmyk
        default: break
        }
        let flags = kind == .progressive ? TJFLAG_PROGRESSIVE : 0
        let status = tjCompress2(handle, pixels, Int32(image.width), 0, Int32(image.height), Int32(format.rawValue),
                                 &buffer, &size, Int32(subsampling.rawValue), Int32(quality), Int32(flags))
        precondition(status == 0, String(cString: tjGetErrorStr2(handle)))
        defer { tjFree(buffer) }
        return Array(UnsafeBufferPointer(start: buffer, count: Int(size)))
    }

    /// Inserts segments right after SOI.
    static func insertAfterSOI(_ jpeg: [UInt8], _ segments: [UInt8]) -> [UInt8] {
        Array(jpeg[0..<2]) + segments + Array(jpeg[2...])
    }

    /// An APP1 Exif segment with an orientation and, optionally, a GPS IFD
    /// holding a recognisable latitude reference ("N") and a marker string.
    public static func withEXIF(_ jpeg: [UInt8], orientation: Int, gps: Bool = false) -> [UInt8] {
        var tiff: [UInt8] = Array("MM".utf8) + [0x00, 0x2A, 0x00, 0x00, 0x00, 0x08]
        let entries = gps ? 2 : 1
        tiff += [0x00, UInt8(entries)]
        tiff += [0x01, 0x12, 0x00, 0x03, 0x00, 0x00, 0x00, 0x01, 0x00, UInt8(orientation), 0x00, 0x00]
        if gps {
            let gpsOffset = 8 + 2 + entries * 12 + 4
            tiff += [0x88, 0x25, 0x00, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, UInt8(gpsOffset)]
        }
        tiff += [0x00, 0x00, 0x00, 0x00]
        if gps {
            // One GPS entry: GPSLatitudeRef = "N", then a marker a leak would show.
            tiff += [0x00, 0x01, 0x00, 0x01, 0x00, 0x02, 0x00, 0x00, 0x00, 0x02, 0x4E, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00]
            tiff += Array("HERD-GPS-SECRET-52.5200N-13.4050E".utf8)
        }
        let payload = Array("Exif\0\0".utf8) + tiff
        let length = payload.count + 2
        return insertAfterSOI(jpeg, [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload)
    }

    public static let fakeICC: [UInt8] = Array("herd-test-icc-profile:".utf8) + (0..<300).map { UInt8($0 % 251) }

    public static func withICC(_ jpeg: [UInt8], profile: [UInt8] = fakeICC) -> [UInt8] {
        insertAfterSOI(jpeg, JPEGSegments.iccSegments(profile))
    }

    // MARK: PNG (libpng's simplified writer)

    public enum PNGKind: Sendable { case rgb, rgba, gray, gray16, palette, paletteWithAlpha }

    public static func png(_ image: RasterImage, kind: PNGKind) -> [UInt8] {
        var png = png_image()
        png.version = UInt32(PNG_IMAGE_VERSION)
        png.width = UInt32(image.width)
        png.height = UInt32(image.height)
        let rgba = withAlpha(image)
        var pixels: [UInt8]
        var colormap: [UInt8] = []
        switch kind {
        case .rgb:
            png.format = UInt32(PNG_FORMAT_FLAG_COLOR)
            pixels = image.flattened().pixels
        case .rgba:
            png.format = UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA)
            pixels = rgba.pixels
        case .gray:
            png.format = 0
            pixels = (0..<(image.width * image.height)).map { rgba.pixels[$0 * 4 + 1] }
        case .gray16:
            png.format = UInt32(PNG_FORMAT_FLAG_LINEAR)
            pixels = (0..<(image.width * image.height)).flatMap { index -> [UInt8] in
                // 16-bit PNGs from the simplified API hold linear light:
                // store the linear equivalent of the sRGB value.
                let encoded = Double(rgba.pixels[index * 4 + 1]) / 255
                let linear = encoded <= 0.04045 ? encoded / 12.92 : pow((encoded + 0.055) / 1.055, 2.4)
                let value = UInt16((linear * 65535).rounded())
                return [UInt8(value & 0xFF), UInt8(value >> 8)]  // native (little-endian) 16-bit
            }
        case .palette, .paletteWithAlpha:
            let withAlpha = kind == .paletteWithAlpha
            png.format = UInt32(PNG_FORMAT_FLAG_COLORMAP | PNG_FORMAT_FLAG_COLOR | (withAlpha ? PNG_FORMAT_FLAG_ALPHA : 0))
            var entries: [[UInt8]] = []
            pixels = []
            for index in 0..<(image.width * image.height) {
                let start = index * 4
                let end: Int = withAlpha ? start + 4 : start + 3
                let entry: [UInt8] = Array(rgba.pixels[start..<end])
                if let position = entries.firstIndex(of: entry) {
                    pixels.append(UInt8(position))
                } else {
                    entries.append(entry)
                    pixels.append(UInt8(entries.count - 1))
                }
            }
            png.colormap_entries = UInt32(entries.count)
            colormap = entries.flatMap { $0 }
        }
        var size: Int = 0
        let ok1 = colormap.withUnsafeBytes { map in
            pixels.withUnsafeBytes { buffer in
                png_image_write_to_memory(&png, nil, &size, 0, buffer.baseAddress, 0, colormap.isEmpty ? nil : map.baseAddress)
            }
        }
        precondition(ok1 != 0)
        var output = [UInt8](repeating: 0, count: size)
        let ok2 = colormap.withUnsafeBytes { map in
            pixels.withUnsafeBytes { buffer in
                output.withUnsafeMutableBytes { out in
                    png_image_write_to_memory(&png, out.baseAddress, &size, 0, buffer.baseAddress, 0, colormap.isEmpty ? nil : map.baseAddress)
                }
            }
        }
        precondition(ok2 != 0)
        return Array(output[0..<size])
    }

    static func withAlpha(_ image: RasterImage) -> RasterImage {
        if image.hasAlpha { return image }
        var pixels = [UInt8](repeating: 255, count: image.width * image.height * 4)
        for index in 0..<(image.width * image.height) {
            pixels[index * 4] = image.pixels[index * 3]
            pixels[index * 4 + 1] = image.pixels[index * 3 + 1]
            pixels[index * 4 + 2] = image.pixels[index * 3 + 2]
        }
        return RasterImage(width: image.width, height: image.height, channels: 4, pixels: pixels)
    }

    // MARK: GIF (giflib)

    /// A GIF of `frames` copies of the image (palette from its colours;
    /// transparent pixels map to a transparent index).
    public static func gif(_ image: RasterImage, frames: Int = 1) -> [UInt8] {
        var colors: [GifColorType] = [GifColorType(Red: 0, Green: 0, Blue: 0)]  // index 0: transparent
        var indices = [UInt8](repeating: 0, count: image.width * image.height)
        for pixel in 0..<(image.width * image.height) {
            let at = pixel * image.channels
            if image.hasAlpha, image.pixels[at + 3] < 128 { continue }
            let color = GifColorType(Red: image.pixels[at], Green: image.pixels[at + 1], Blue: image.pixels[at + 2])
            if let found = colors.firstIndex(where: { $0.Red == color.Red && $0.Green == color.Green && $0.Blue == color.Blue }) {
                indices[pixel] = UInt8(found)
            } else {
                colors.append(color)
                indices[pixel] = UInt8(colors.count - 1)
            }
        }
        return writeGIF(width: image.width, height: image.height, colors: colors) { file in
            for _ in 0..<frames {
                putGraphicsControl(file, disposal: 0, delay: 10)
                EGifPutImageDesc(file, 0, 0, Int32(image.width), Int32(image.height), false, nil)
                for row in 0..<image.height {
                    var line = Array(indices[(row * image.width)..<((row + 1) * image.width)])
                    EGifPutLine(file, &line, Int32(image.width))
                }
            }
        }
    }

    /// A frame's graphic control extension; colour index 0 is transparent.
    static func putGraphicsControl(_ file: UnsafeMutablePointer<GifFileType>, disposal: Int, delay: Int) {
        var gcb = GraphicsControlBlock(DisposalMode: Int32(disposal), UserInputFlag: false, DelayTime: Int32(delay), TransparentColor: 0)
        var extension_ = [GifByteType](repeating: 0, count: 4)
        let length = EGifGCBToExtension(&gcb, &extension_)
        EGifPutExtension(file, GRAPHICS_EXT_FUNC_CODE, Int32(length), extension_)
    }

    /// A GIF89a written with giflib: the logical screen with `colors` as its
    /// global table (padded to a power of two, at least 16), then whatever
    /// `body` puts in it.
    static func writeGIF(width: Int, height: Int, colors: [GifColorType],
                         _ body: (UnsafeMutablePointer<GifFileType>) -> Void) -> [UInt8] {
        final class Sink { var bytes: [UInt8] = [] }
        let sink = Sink()
        var error: Int32 = 0
        let file = EGifOpen(Unmanaged.passUnretained(sink).toOpaque(), { file, data, length in
            let sink = Unmanaged<Sink>.fromOpaque(file!.pointee.UserData).takeUnretainedValue()
            sink.bytes.append(contentsOf: UnsafeBufferPointer(start: data, count: Int(length)))
            return length
        }, &error)!
        var table = colors
        while table.count < 16 || table.count & (table.count - 1) != 0 { table.append(GifColorType(Red: 0, Green: 0, Blue: 0)) }
        let map = GifMakeMapObject(Int32(table.count), table)!
        defer { GifFreeMapObject(map) }
        EGifSetGifVersion(file, true)
        EGifPutScreenDesc(file, Int32(width), Int32(height), 8, 0, map)
        body(file)
        EGifCloseFile(file, &error)
        return sink.bytes
    }

    // MARK: WebP, AVIF (herd's own encoders; decoding them is what is tested)

    public static func webp(_ image: RasterImage, lossless: Bool = false) -> [UInt8] {
        try! WebPEncoder.encode(image, settings: EncoderSettings(), tryLossless: lossless)
    }

    public static func avif(_ image: RasterImage) -> [UInt8] {
        var settings = EncoderSettings()
        settings.avifQuality = 90
        return try! AVIFEncoder.encode(image, settings: settings)
    }

    // MARK: Checks

    /// The average colour of a box around the centre of a quadrant
    /// (0 = top-left, 1 = top-right, 2 = bottom-left, 3 = bottom-right).
    public static func quadrantColor(_ image: RasterImage, _ quadrant: Int) -> (Int, Int, Int) {
        let cx = quadrant % 2 == 0 ? image.width / 4 : image.width * 3 / 4
        let cy = quadrant < 2 ? image.height / 4 : image.height * 3 / 4
        var sum = (0, 0, 0), count = 0
        for y in (cy - 2)...(cy + 2) {
            for x in (cx - 2)...(cx + 2) {
                let at = (y * image.width + x) * image.channels
                sum.0 += Int(image.pixels[at]); sum.1 += Int(image.pixels[at + 1]); sum.2 += Int(image.pixels[at + 2])
                count += 1
            }
        }
        return (sum.0 / count, sum.1 / count, sum.2 / count)
    }

    public static func close(_ a: (Int, Int, Int), _ b: (UInt8, UInt8, UInt8), tolerance: Int = 40) -> Bool {
        abs(a.0 - Int(b.0)) <= tolerance && abs(a.1 - Int(b.1)) <= tolerance && abs(a.2 - Int(b.2)) <= tolerance
    }

    /// Decodes any output herd writes, for checking its pixels.
    /// Pixels of any output herd writes, by the format's own library.
    public static func decode(_ bytes: [UInt8]) throws -> RasterImage {
        if JXLImages.isJXL(bytes) {
            guard let decoded = JXLImages.decode(bytes) else { throw ImageError(.corrupt, "JPEG XL did not decode") }
            return decoded.image
        }
        return try bytes.withUnsafeBytes { raw in
            let info = try Probe.run(raw, limits: ImageLimits())
            return try Decode.run(raw, info: info, maxDimension: 0)
        }
    }

    public static func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        let pattern = Array(needle.utf8)
        guard haystack.count >= pattern.count else { return false }
        for start in 0...(haystack.count - pattern.count) where haystack[start] == pattern[0] {
            if Array(haystack[start..<(start + pattern.count)]) == pattern { return true }
        }
        return false
    }
}
