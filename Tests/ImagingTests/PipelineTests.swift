import HerdTestSupport
import Testing
@testable import Imaging

@Suite("Pipeline")
struct PipelineTests {
    let pipeline = ImagePipeline()

    @Test("EXIF orientation 1–8 is applied to the pixels and dropped", arguments: 1...8)
    func orientation(value: Int) throws {
        let source = TestImages.quadrants(width: 96, height: 64)
        let jpeg = TestImages.withEXIF(TestImages.jpeg(source), orientation: value)
        let output = try pipeline.convert(jpeg, to: .webp)
        #expect(!TestImages.contains(output.bytes, "Exif"))
        let image = try TestImages.decode(output.bytes)
        // Where each source quadrant must end up, per the EXIF definition:
        // [top-left, top-right, bottom-left, bottom-right] of the output.
        let layouts: [Int: [(UInt8, UInt8, UInt8)]] = [
            1: [TestImages.red, TestImages.green, TestImages.blue, TestImages.yellow],
            2: [TestImages.green, TestImages.red, TestImages.yellow, TestImages.blue],
            3: [TestImages.yellow, TestImages.blue, TestImages.green, TestImages.red],
            4: [TestImages.blue, TestImages.yellow, TestImages.red, TestImages.green],
            5: [TestImages.red, TestImages.blue, TestImages.green, TestImages.yellow],
            6: [TestImages.blue, TestImages.red, TestImages.yellow, TestImages.green],
            7: [TestImages.yellow, TestImages.green, TestImages.blue, TestImages.red],
            8: [TestImages.green, TestImages.yellow, TestImages.red, TestImages.blue],
        ]
        let swapped = value >= 5
        #expect(image.width == (swapped ? 64 : 96) && image.height == (swapped ? 96 : 64))
        for (quadrant, expected) in layouts[value]!.enumerated() {
            let actual = TestImages.quadrantColor(image, quadrant)
            #expect(TestImages.close(actual, expected), "orientation \(value), quadrant \(quadrant): \(actual)")
        }
    }

    // PNG is written for previews only, through libpng's simplified API,
    // which has no ICC chunk: the one output that drops the profile.
    // JPEG XL needs a profile libjxl can parse (JPEGXLTests).
    @Test("the ICC profile is carried into every output", arguments: OutputFormat.allCases.filter { $0 != .png && $0 != .jxl })
    func icc(format: OutputFormat) throws {
        let jpeg = TestImages.withICC(TestImages.jpeg(TestImages.photo(width: 320, height: 200), quality: 98))
        let output = try pipeline.convert(jpeg, to: format)
        let image = try TestImages.decode(output.bytes)
        #expect(image.iccProfile == TestImages.fakeICC)
    }

    // A JPEG recompressed to JPEG XL is the same file, metadata and all
    // (JPEGXLTests: it decodes back to the identical JPEG), exactly what the
    // original variant serves; every output made from pixels drops it.
    @Test("EXIF with GPS never leaks into an output made from pixels", arguments: OutputFormat.allCases.filter { $0 != .jxl })
    func gpsStripped(format: OutputFormat) throws {
        let jpeg = TestImages.withEXIF(TestImages.jpeg(TestImages.photo(width: 200, height: 120)), orientation: 1, gps: true)
        #expect(TestImages.contains(jpeg, "HERD-GPS-SECRET"))
        let output = try pipeline.convert(jpeg, to: format)
        #expect(!TestImages.contains(output.bytes, "HERD-GPS-SECRET"))
        #expect(!TestImages.contains(output.bytes, "Exif"))
    }

    @Test("alpha survives into AVIF and WebP; a JPEG from alpha is composited on white")
    func alpha() throws {
        let png = TestImages.png(TestImages.quadrants(alpha: true), kind: .rgba)
        for format in [OutputFormat.avif, .webp] {
            let image = try TestImages.decode(try pipeline.convert(png, to: format).bytes)
            #expect(image.hasAlpha, "\(format)")
            #expect(image.pixels[(image.width * (image.height - 1)) * 4 + 3] < 10, "\(format): bottom must stay transparent")
        }
        let jpeg = try TestImages.decode(try pipeline.convert(png, to: .jpeg).bytes)
        #expect(!jpeg.hasAlpha)
        #expect(TestImages.close(TestImages.quadrantColor(jpeg, 2), (255, 255, 255), tolerance: 8))
        #expect(TestImages.close(TestImages.quadrantColor(jpeg, 0), TestImages.red))
    }

    @Test("max_dimension scales down (JPEG: scaled decode, then the rescaler)")
    func fit() throws {
        let jpeg = TestImages.jpeg(TestImages.photo(width: 1000, height: 600))
        let fitted = ImagePipeline(maxDimension: 300)
        let output = try fitted.convert(jpeg, to: .webp)
        #expect(output.width == 300 && output.height == 180)
        let png = TestImages.png(TestImages.quadrants(width: 400, height: 200), kind: .rgb)
        let fromPNG = try fitted.convert(png, to: .jpeg)
        #expect(fromPNG.width == 300 && fromPNG.height == 150)
        let image = try TestImages.decode(fromPNG.bytes)
        #expect(TestImages.close(TestImages.quadrantColor(image, 3), TestImages.yellow))
    }

    @Test("limits are read from the header before decoding")
    func limits() throws {
        // A 1×1 PNG whose header claims 100000×100000.
        var bomb = TestImages.png(TestImages.quadrants(width: 2, height: 2), kind: .rgb)
        for (offset, value) in [(16, 100_000), (20, 100_000)] {
            bomb[offset] = UInt8(value >> 24); bomb[offset + 1] = UInt8((value >> 16) & 0xFF)
            bomb[offset + 2] = UInt8((value >> 8) & 0xFF); bomb[offset + 3] = UInt8(value & 0xFF)
        }
        #expect(throws: ImageError(.tooManyPixels, "100000×100000 over the 40000000-pixel cap")) {
            try pipeline.convert(bomb, to: .webp)
        }
        let big = TestImages.jpeg(TestImages.photo(width: 300, height: 300))
        #expect(throws: ImageError.self) { try ImagePipeline(limits: ImageLimits(maxSourceBytes: 100)).convert(big, to: .webp) }
        #expect(throws: ImageError(.corrupt, "empty file")) { try pipeline.convert([], to: .webp) }
    }

    @Test("a truncated JPEG is refused as corrupt, not decoded into grey")
    func truncated() throws {
        let jpeg = TestImages.jpeg(TestImages.photo(width: 400, height: 300))
        let truncated = Array(jpeg.prefix(jpeg.count / 2))
        #expect {
            try pipeline.convert(truncated, to: .webp)
        } throws: { error in
            (error as? ImageError)?.kind == .corrupt
        }
    }

    @Test("a time budget of zero stops the pipeline after its first step")
    func timeBudget() throws {
        let jpeg = TestImages.jpeg(TestImages.photo(width: 400, height: 300))
        #expect {
            try ImagePipeline(timeBudget: 0).convert(jpeg, to: .avif)
        } throws: { error in
            (error as? ImageError)?.kind == .timeout
        }
    }
}
