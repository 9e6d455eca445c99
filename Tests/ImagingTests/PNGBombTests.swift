import CZlib
import HerdTestSupport
import Testing
@testable import Imaging

/// libpng inflates whatever follows a PNG's image data to its end before it
/// reports it, and no time budget can interrupt it: herd checks first.
@Suite("PNG image data past the image's size")
struct PNGBombTests {
    static func deflated(_ input: [UInt8]) -> [UInt8] {
        var length = compressBound(UInt(input.count))
        var output = [UInt8](repeating: 0, count: Int(length))
        let status = output.withUnsafeMutableBufferPointer { out in
            input.withUnsafeBufferPointer { compress2(out.baseAddress, &length, $0.baseAddress, UInt($0.count), 9) }
        }
        precondition(status == Z_OK)
        return Array(output[0..<Int(length)])
    }

    /// An 8×8 RGB PNG whose image data is followed, in the same zlib
    /// stream, by `trailing` zero bytes.
    static func png(trailing: Int) -> [UInt8] {
        let raw = (0..<8).flatMap { _ in [UInt8(0)] + [UInt8](repeating: 200, count: 24) }
        let ihdr: [UInt8] = [0, 0, 0, 8, 0, 0, 0, 8, 8, 2, 0, 0, 0]
        return [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a] + TestImages.pngChunk("IHDR", ihdr)
            + TestImages.pngChunk("IDAT", deflated(raw + [UInt8](repeating: 0, count: trailing))) + TestImages.pngChunk("IEND", [])
    }

    @Test("100 MB of zeros after an 8×8 image: refused before libpng inflates them")
    func trailingBomb() throws {
        let bomb = Self.png(trailing: 100 << 20)
        #expect(bomb.count > PNGChunks.checkedImageDataBytes)
        let error = #expect(throws: ImageError.self) { try bomb.withUnsafeBytes { try Decode.png($0) } }
        #expect(error?.kind == .corrupt && error?.detail.contains("more image data") == true, "\(String(describing: error))")
        // A little trailing data is libpng's to judge, as before.
        #expect((try? Self.png(trailing: 1000).withUnsafeBytes { try Decode.png($0) })?.width == 8)
    }

    @Test("large image data that ends where it should decodes (plain and interlaced sizes)")
    func largeImageData() throws {
        // Noise compresses poorly: well over the size that is checked.
        var generator = SystemRandomNumberGenerator()
        let noise = RasterImage(width: 300, height: 200, channels: 3, pixels: (0..<(300 * 200 * 3)).map { _ in UInt8.random(in: 0...255, using: &generator) })
        let png = TestImages.png(noise, kind: .rgb)
        #expect(png.count > PNGChunks.checkedImageDataBytes)
        let image = try png.withUnsafeBytes { try Decode.png($0) }
        #expect(image.width == 300 && image.pixels == noise.pixels)
        #expect(PNGChunks.rawImageBytes(width: 300, height: 200, bitDepth: 8, colorType: 2, interlaced: false) == 200 * 901)
        // Adam7 of 1×1: only the first pass has a pixel.
        #expect(PNGChunks.rawImageBytes(width: 1, height: 1, bitDepth: 8, colorType: 6, interlaced: true) == 5)
        #expect(PNGChunks.rawImageBytes(width: 8, height: 8, bitDepth: 1, colorType: 0, interlaced: true)
                == 2 + 2 + 2 + 4 + 4 + 8 + 8)
    }
}
