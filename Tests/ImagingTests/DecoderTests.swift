import HerdTestSupport
import Testing
@testable import Imaging

@Suite("Decoders")
struct DecoderTests {
    let source = TestImages.quadrants()

    func checkQuadrants(_ image: RasterImage, tolerance: Int = 40) {
        #expect(image.width == source.width && image.height == source.height)
        #expect(TestImages.close(TestImages.quadrantColor(image, 0), TestImages.red, tolerance: tolerance))
        #expect(TestImages.close(TestImages.quadrantColor(image, 1), TestImages.green, tolerance: tolerance))
        #expect(TestImages.close(TestImages.quadrantColor(image, 2), TestImages.blue, tolerance: tolerance))
        #expect(TestImages.close(TestImages.quadrantColor(image, 3), TestImages.yellow, tolerance: tolerance))
    }

    @Test("JPEG: baseline, progressive", arguments: [TestImages.JPEGKind.baseline, .progressive])
    func jpeg(kind: TestImages.JPEGKind) throws {
        let bytes = TestImages.jpeg(source, kind: kind)
        #expect(ImageFormat.sniff(bytes) == .jpeg)
        checkQuadrants(try TestImages.decode(bytes))
    }

    @Test("JPEG: grayscale decodes to grey RGB")
    func jpegGray() throws {
        let image = try TestImages.decode(TestImages.jpeg(source, kind: .grayscale))
        let color = TestImages.quadrantColor(image, 0)
        #expect(color.0 == color.1 && color.1 == color.2)
    }

    @Test("JPEG: Adobe CMYK comes out as the right RGB")
    func jpegCMYK() throws {
        checkQuadrants(try TestImages.decode(TestImages.jpeg(source, kind: .cmyk)), tolerance: 48)
    }

    @Test("PNG: RGB, RGBA, palette, palette+tRNS", arguments: [TestImages.PNGKind.rgb, .rgba, .palette, .paletteWithAlpha])
    func png(kind: TestImages.PNGKind) throws {
        let bytes = TestImages.png(source, kind: kind)
        #expect(ImageFormat.sniff(bytes) == .png)
        checkQuadrants(try TestImages.decode(bytes), tolerance: 2)
    }

    @Test("PNG: 8- and 16-bit grey", arguments: [TestImages.PNGKind.gray, .gray16])
    func pngGray(kind: TestImages.PNGKind) throws {
        let image = try TestImages.decode(TestImages.png(source, kind: kind))
        let green = TestImages.quadrantColor(image, 1)
        #expect(green.0 == green.1 && green.1 == green.2)
        #expect(abs(green.1 - Int(TestImages.green.1)) <= 3)
    }

    @Test("PNG alpha and tRNS keep their transparency")
    func pngAlpha() throws {
        for kind in [TestImages.PNGKind.rgba, .paletteWithAlpha] {
            let image = try TestImages.decode(TestImages.png(TestImages.quadrants(alpha: true), kind: kind))
            #expect(image.hasAlpha)
            #expect(image.pixels[(image.width * (image.height - 1)) * 4 + 3] == 0)
            #expect(image.pixels[3] == 255)
        }
    }

    @Test("GIF: static decodes; animated is refused as unsupported, before decoding")
    func gif() throws {
        checkQuadrants(try TestImages.decode(TestImages.gif(source)), tolerance: 2)
        let animated = TestImages.gif(source, frames: 3)
        let info = try animated.withUnsafeBytes { try Probe.run($0, limits: ImageLimits()) }
        #expect(info.frames == 3)
        #expect(throws: ImageError.self) { try TestImages.decode(animated) }
        #expect(throws: ImageError(.tooManyFrames, "4 frames over the cap of 3")) {
            _ = try TestImages.gif(source, frames: 5).withUnsafeBytes { try Probe.run($0, limits: ImageLimits(maxFrames: 3)) }
        }
    }

    @Test("WebP and AVIF decode, lossy and with alpha")
    func webpAndAVIF() throws {
        checkQuadrants(try TestImages.decode(TestImages.webp(source)))
        checkQuadrants(try TestImages.decode(TestImages.avif(source)))
        let alpha = TestImages.quadrants(alpha: true)
        for bytes in [TestImages.webp(alpha), TestImages.avif(alpha)] {
            let image = try TestImages.decode(bytes)
            #expect(image.hasAlpha)
            #expect(image.pixels[(image.width * (image.height - 1)) * 4 + 3] < 10)
        }
    }

    @Test("anything else is not sniffed as an image", arguments: [
        Array("<html><body>hi</body></html>".utf8),
        Array("<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".utf8),
        [0x00, 0x00, 0x00, 0x18] + Array("ftypmp42".utf8) + [UInt8](repeating: 0, count: 16),  // MP4
        Array("ID3".utf8) + [UInt8](repeating: 0, count: 32),  // MP3
        [],
    ])
    func notImages(bytes: [UInt8]) {
        #expect(ImageFormat.sniff(bytes) == nil)
    }
}
