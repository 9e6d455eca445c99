import HerdTestSupport
import Imaging
import Negotiation
import Testing
import Herd
@testable import Media
import Settings

/// HEIC/HEIF sources (iPhone photos), made here with libheif's HEVC encoder.
@Suite("HEIC sources")
struct HEIFTests {
    let pipeline = ImagePipeline(maxDimension: 4096)

    @Test("sniffed from the ftyp brand, never from a name or a type; AVIF's brands stay AVIF")
    func sniffing() throws {
        let heic = try HEIFImages.heic(TestImages.photo(width: 64, height: 48))
        #expect(ImageFormat.sniff(heic) == .heif)
        func ftyp(_ major: String, _ compatible: [String]) -> [UInt8] {
            let body = Array(major.utf8) + [0, 0, 0, 0] + compatible.flatMap { Array($0.utf8) }
            return [0, 0, 0, UInt8(8 + body.count)] + Array("ftyp".utf8) + body + [0, 0, 0, 0]
        }
        #expect(ImageFormat.sniff(ftyp("mif1", ["mif1", "heic"])) == .heif)
        #expect(ImageFormat.sniff(ftyp("mif1", ["mif1", "avif"])) == .avif)
        #expect(ImageFormat.sniff(ftyp("heix", [])) == .heif)
        #expect(ImageFormat.sniff(ftyp("mif1", ["mif1"])) == nil)
        #expect(ImageFormat.sniff(ftyp("isom", ["heic"])) == nil)  // an MP4 naming heic: not ours
    }

    @Test("HEIC → every output: decoded, the right size and colours", arguments: [OutputFormat.avif, .webp, .jpeg, .jxl])
    func converts(format: OutputFormat) throws {
        let heic = try HEIFImages.heic(TestImages.quadrants(width: 96, height: 64))
        let output = try pipeline.convert(heic, to: format)
        #expect(output.source.format == .heif)
        let image = try TestImages.decode(output.bytes)
        #expect((image.width, image.height) == (96, 64))
        let original = TestImages.quadrants(width: 96, height: 64)
        for quadrant in 0..<4 {
            let expected = TestImages.quadrantColor(original, quadrant)
            #expect(TestImages.close(TestImages.quadrantColor(image, quadrant), (UInt8(expected.0), UInt8(expected.1), UInt8(expected.2))),
                    "\(format) quadrant \(quadrant)")
        }
    }

    @Test("the container's rotation is applied (irot/imir): the output is shown as the phone took it", arguments: [3, 6, 8])
    func orientation(value: Int) throws {
        let heic = try HEIFImages.heic(TestImages.quadrants(width: 96, height: 64), orientation: value)
        let output = try pipeline.convert(heic, to: .jpeg)
        let image = try TestImages.decode(output.bytes)
        let swapped = value >= 5
        #expect((image.width, image.height) == (swapped ? 64 : 96, swapped ? 96 : 64))
        // The same picture as the pipeline gives for a JPEG with that EXIF orientation.
        let reference = try TestImages.decode(try pipeline.convert(
            TestImages.withEXIF(TestImages.jpeg(TestImages.quadrants(width: 96, height: 64), quality: 98), orientation: value), to: .jpeg).bytes)
        for quadrant in 0..<4 {
            let expected = TestImages.quadrantColor(reference, quadrant)
            #expect(TestImages.close(TestImages.quadrantColor(image, quadrant), (UInt8(expected.0), UInt8(expected.1), UInt8(expected.2))),
                    "orientation \(value), quadrant \(quadrant)")
        }
    }

    @Test("the ICC profile is carried into the output")
    func iccCarried() throws {
        let profile = JXLImages.displayP3Profile
        let heic = try HEIFImages.heic(TestImages.photo(width: 128, height: 96), icc: profile)
        for format in [OutputFormat.avif, .webp, .jpeg] {
            #expect(try TestImages.decode(try pipeline.convert(heic, to: format).bytes).iccProfile == profile, "\(format)")
        }
    }

    @Test("the pixel cap is checked from the container before decoding")
    func pixelCapFirst() throws {
        let heic = try HEIFImages.heic(TestImages.photo(width: 400, height: 300))
        let small = ImagePipeline(limits: ImageLimits(maxPixels: 100_000))
        #expect(throws: ImageError.self) { try small.convert(heic, to: .jpeg) }
        do {
            _ = try small.convert(heic, to: .jpeg)
        } catch {
            #expect(error.kind == .tooManyPixels)
        }
    }

    @Test("corrupt and truncated HEIC: a clear error, never a crash")
    func corrupt() throws {
        let heic = try HEIFImages.heic(TestImages.photo(width: 128, height: 96))
        for cut in [40, heic.count / 3, heic.count - 20] {
            #expect(throws: ImageError.self) { try pipeline.convert(Array(heic.prefix(cut)), to: .jpeg) }
        }
        var flipped = heic
        for index in stride(from: heic.count / 2, to: heic.count, by: 97) { flipped[index] ^= 0x5A }
        _ = try? pipeline.convert(flipped, to: .jpeg)  // decodes to something or throws; must not crash
    }

    @Test("a HEIC original is never sent to a browser: JPEG for clients that name none of herd's formats")
    func neverSentAsIs() {
        #expect(ImageConversion.target(for: .orig, source: .heif) == .jpeg)
        #expect(ImageConversion.target(for: .avif, source: .heif) == .avif)
        #expect(ImageConversion.target(for: .webp, source: .heif) == .webp)
        #expect(ImageConversion.target(for: .jxlAVIF, source: .heif) == .jxl)
        for variant in Variant.allCases {
            #expect(!ImageConversion.canDisplay(.heif, variant: variant))
        }
    }
}
