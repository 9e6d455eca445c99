import HerdTestSupport
import Imaging
import Negotiation
import Testing
import Upstream
import Herd
@testable import Media
import Settings

@Suite("What a client gets for an image")
struct ImageConversionTests {
    let conversion = ImageConversion(pipeline: ImagePipeline())

    @Test("never worse: a conversion that is not smaller is not served")
    func neverWorse() {
        // A tiny palette PNG is smaller than the AVIF container around the
        // same pixels (WebP's lossless mode beats PNG even there).
        let tiny = TestImages.png(TestImages.quadrants(width: 4, height: 4), kind: .palette)
        for (variant, source, format) in [(Variant.avif, tiny, ImageFormat.png)] {
            guard case .original(let reason, let shortLived) = conversion.decide(source: source, format: format, variant: variant) else {
                Issue.record("\(variant): expected the original, source \(source.count) bytes, got \(conversion.decide(source: source, format: format, variant: variant))")
                continue
            }
            #expect(reason == "not_smaller")
            #expect(!shortLived)
        }
    }

    @Test("a smaller conversion is served")
    func smaller() {
        let photo = TestImages.jpeg(TestImages.photo(width: 640, height: 400), quality: 95)
        guard case .converted(let output) = conversion.decide(source: photo, format: .jpeg, variant: .avif) else {
            Issue.record("expected a conversion")
            return
        }
        #expect(output.format == .avif)
        #expect(output.bytes.count < photo.count)
    }

    @Test("targets per variant and source")
    func targets() {
        #expect(ImageConversion.target(for: .avif, source: .jpeg) == .avif)
        #expect(ImageConversion.target(for: .avif, source: .avif) == nil)
        #expect(ImageConversion.target(for: .webp, source: .avif) == .webp)
        #expect(ImageConversion.target(for: .webp, source: .webp) == nil)
        #expect(ImageConversion.target(for: .orig, source: .png) == nil)
        #expect(ImageConversion.target(for: .orig, source: .webp) == .jpeg)
        #expect(ImageConversion.target(for: .orig, source: .avif) == .jpeg)
    }

    @Test("a corrupt source: the original when displayable, else 415")
    func corrupt() {
        let webp = TestImages.webp(TestImages.photo(width: 200, height: 100))
        let broken = Array(webp.prefix(40))
        guard case .refuse(let status, _) = conversion.decide(source: broken, format: .webp, variant: .orig) else {
            Issue.record("a broken WebP cannot be shown to a client that did not ask for WebP")
            return
        }
        #expect(status == 415)
        guard case .original(_, let shortLived) = conversion.decide(source: broken, format: .webp, variant: .avif) else {
            Issue.record("a client that takes AVIF takes WebP")
            return
        }
        #expect(shortLived)
    }

    @Test("Vary merging never duplicates Accept")
    func vary() {
        #expect(ResponseHeaders.mergedVary(nil) == "Accept")
        #expect(ResponseHeaders.mergedVary("Origin") == "Origin, Accept")
        #expect(ResponseHeaders.mergedVary("accept, Origin") == "accept, Origin")
        #expect(ResponseHeaders.mergedVary("Origin, Origin") == "Origin, Accept")
        #expect(ResponseHeaders.mergedVary("*") == "Accept", "an origin's * is dropped: herd varies on Accept only")
        #expect(ResponseHeaders.mergedVary("Origin, *") == "Origin, Accept")
    }

    @Test("ETags: one base per source, source version, variant and settings; suffix-matched")
    func etags() {
        let head = UpstreamResponseHead(status: 200, headers: [("ETag", "\"abc\"")])
        func base(_ key: String, _ body: [UInt8], _ variant: Variant, _ settings: EncoderSettings = EncoderSettings()) -> String {
            let source = SourceResponse(head: head, body: body)
            return ResponseHeaders.etagBase(sourceKey: key, length: body.count, digest: source.digest, variant: variant, settings: settings)
        }
        let a = base("http://o/a.jpg", [1, 2, 3], .avif)
        let b = base("http://o/a.jpg", [1, 2, 3], .webp)
        var other = EncoderSettings()
        other.avifQuality = 50
        let c = base("http://o/a.jpg", [1, 2, 3], .avif, other)
        #expect(a != b && a != c)
        // The same origin ETag on another URL, or on other bytes, is another source.
        #expect(base("http://o/b.jpg", [1, 2, 3], .avif) != a)
        #expect(base("http://o/a.jpg", [1, 2, 4], .avif) != a)
        #expect(base("http://o/a.jpg", [1, 2, 3], .avif) == a)
        #expect(ResponseHeaders.matchingETag("\"x\", W/\"\(a)-avif\"", base: a) == "\"\(a)-avif\"")
        #expect(ResponseHeaders.matchingETag("\"\(b)-webp\"", base: a) == nil)
        #expect(ResponseHeaders.isHerdETag("\"\(a)-orig\""))
        #expect(!ResponseHeaders.isHerdETag("\"abc\""))
    }
}
