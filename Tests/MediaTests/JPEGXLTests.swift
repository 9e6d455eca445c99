import HerdTestSupport
import Imaging
import Negotiation
import Testing
import Herd
@testable import Media
import Settings

/// The `jxl` variant: JPEGs recompressed losslessly, everything else
/// encoded from pixels; decoded back with libjxl's own decoder.
@Suite("JPEG XL")
struct JPEGXLTests {
    let pipeline = ImagePipeline(maxDimension: 4096)

    @Test("a JPEG becomes a JXL that decodes back to the identical JPEG, bit for bit, and is smaller",
          arguments: [TestImages.JPEGKind.baseline, .progressive, .grayscale])
    func losslessRoundTrip(kind: TestImages.JPEGKind) throws {
        let jpeg = TestImages.jpeg(TestImages.photo(width: 640, height: 400), kind: kind, quality: 85)
        let output = try pipeline.convert(jpeg, to: .jxl)
        #expect(output.format == .jxl)
        #expect(output.timings.contains { $0.step == "recompress" }, "\(output.timings.map(\.step))")
        #expect(output.bytes.count < jpeg.count, "\(output.bytes.count) ≥ \(jpeg.count)")
        let back = try #require(JXLImages.reconstructJPEG(output.bytes))
        #expect(back.count == jpeg.count)
        #expect(back == jpeg, "the reconstructed JPEG differs from the source")
    }

    @Test("the round trip keeps the JPEG's own metadata and its EXIF orientation is shown, sides swapped")
    func orientationCarried() throws {
        let jpeg = TestImages.withEXIF(TestImages.jpeg(TestImages.quadrants(width: 96, height: 64)), orientation: 6)
        let output = try pipeline.convert(jpeg, to: .jxl)
        #expect(JXLImages.reconstructJPEG(output.bytes) == jpeg)
        #expect((output.width, output.height) == (64, 96))
        let decoded = try #require(JXLImages.decode(output.bytes))
        #expect(decoded.orientation == 6, "libjxl carries the EXIF orientation into the codestream")
    }

    @Test("a JPEG larger than max_dimension is scaled: lossy JXL from pixels")
    func oversizedJPEGScaled() throws {
        let jpeg = TestImages.jpeg(TestImages.photo(width: 1200, height: 800))
        let output = try ImagePipeline(maxDimension: 600).convert(jpeg, to: .jxl)
        #expect(!output.timings.contains { $0.step == "recompress" })
        #expect(JXLImages.reconstructJPEG(output.bytes) == nil)
        let image = try TestImages.decode(output.bytes)
        #expect((image.width, image.height) == (600, 400))
    }

    @Test("PNG with alpha → JXL keeps the size, the alpha and the colours")
    func pngWithAlpha() throws {
        let png = TestImages.png(TestImages.quadrants(width: 96, height: 64, alpha: true), kind: .rgba)
        let output = try pipeline.convert(png, to: .jxl)
        let image = try TestImages.decode(output.bytes)
        #expect((image.width, image.height) == (96, 64))
        #expect(image.hasAlpha)
        let original = TestImages.quadrants(width: 96, height: 64, alpha: true)
        for quadrant in 0..<4 {
            let expected = TestImages.quadrantColor(original, quadrant)
            #expect(TestImages.close(TestImages.quadrantColor(image, quadrant), (UInt8(expected.0), UInt8(expected.1), UInt8(expected.2))))
        }
    }

    @Test("a real ICC profile is carried, from pixels and through recompression; a made-up one gives sRGB, not a failure")
    func colourProfiles() throws {
        let profile = JXLImages.displayP3Profile
        #expect(profile.count > 100)
        let recompressed = try pipeline.convert(TestImages.withICC(TestImages.jpeg(TestImages.photo(width: 320, height: 200)), profile: profile), to: .jxl)
        #expect(JXLImages.decode(recompressed.bytes)?.image.iccProfile == profile)
        var image = TestImages.photo(width: 320, height: 200)
        image.iccProfile = profile
        let fromPixels = try pipeline.convert(TestImages.png(image, kind: .rgb), to: .jxl)
        #expect(JXLImages.decode(fromPixels.bytes)?.image.iccProfile != nil)
        // libjxl cannot parse the made-up profile: the JPEG is not
        // recompressed with it, and the pixels are encoded as sRGB.
        let madeUp = try pipeline.convert(TestImages.withICC(TestImages.jpeg(TestImages.photo(width: 320, height: 200))), to: .jxl)
        #expect(try TestImages.decode(madeUp.bytes).width == 320)
    }

    @Test("which variant gets JXL, and what the others get from a JXL-capable order")
    func targets() {
        #expect(ImageConversion.target(for: .jxl, source: .jpeg) == .jxl)
        #expect(ImageConversion.target(for: .jxlAVIF, source: .png) == .jxl)
        #expect(ImageConversion.target(for: .jxlWebP, source: .webp) == .jxl)
        // Animated GIFs: the animation format; none → the GIF itself.
        #expect(ImageConversion.target(for: .jxlAVIF, source: .gif, animated: true) == .avif)
        #expect(ImageConversion.target(for: .jxlWebP, source: .gif, animated: true) == .webp)
        #expect(ImageConversion.target(for: .jxl, source: .gif, animated: true) == nil)
        // An animated WebP goes as is to a client that takes WebP or AVIF,
        // as a JXL still to one known to take only JXL.
        #expect(ImageConversion.target(for: .jxlAVIF, source: .webp, animated: true) == nil)
        #expect(ImageConversion.target(for: .jxl, source: .webp, animated: true) == .jxl)
    }

    @Test("the configured order reaches the worker: image.formats and the historical switches")
    func configuration() throws {
        var configuration = HerdConfiguration()
        #expect(configuration.image.formatPreference == .standard)
        configuration.image.formats = ["jxl", "avif", "webp"]
        #expect(configuration.image.formatPreference.order == [.jxl, .avif, .webp])
        configuration.image.enableAVIF = false
        #expect(configuration.image.formatPreference.order == [.jxl, .webp])
    }
}
