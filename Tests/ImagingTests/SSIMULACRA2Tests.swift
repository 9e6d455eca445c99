import Foundation
import HerdTestSupport
import Testing
@testable import Imaging

/// herd's SSIMULACRA 2 against the reference build (cloudinary/ssimulacra2,
/// SSIMULACRA 2.1) on fixtures made from the corpus: JPEG, WebP and blur
/// distortions of photos and a graphic, small enough for fewer than 6
/// scales, one with alpha (Tests/Fixtures/ssimulacra2/scores.tsv).
@Suite("SSIMULACRA 2")
struct SSIMULACRA2Tests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/ssimulacra2")

    static func image(_ name: String) throws -> RasterImage {
        try QualitySearch.decodeAny([UInt8](Data(contentsOf: fixtures.appendingPathComponent(name))))
    }

    static var cases: [(String, String, Double)] {
        let text = (try? String(contentsOf: fixtures.appendingPathComponent("scores.tsv"), encoding: .utf8)) ?? ""
        return text.split(separator: "\n").filter { !$0.hasPrefix("#") }.compactMap { line in
            let fields = line.split(separator: "\t")
            guard fields.count == 3, let score = Double(fields[2]) else { return nil }
            return (String(fields[0]), String(fields[1]), score)
        }
    }

    @Test("the reference's scores, within 0.1", arguments: cases.map { "\($0.0) \($0.1) \($0.2)" })
    func matchesReference(line: String) throws {
        let fields = line.split(separator: " ")
        let expected = try #require(Double(fields[2]))
        let score = try #require(SSIMULACRA2.score(original: try Self.image(String(fields[0])), distorted: try Self.image(String(fields[1]))))
        #expect(abs(score - expected) < 0.1, "\(line): herd \(score)")
    }

    @Test("identical: 100; a different size or under 8×8: no score; more distortion scores lower")
    func basics() {
        let photo = TestImages.photo(width: 64, height: 48)
        #expect(SSIMULACRA2.score(original: photo, distorted: photo) == 100)
        #expect(SSIMULACRA2.score(original: photo, distorted: TestImages.photo(width: 48, height: 64)) == nil)
        let tiny = TestImages.photo(width: 7, height: 20)
        #expect(SSIMULACRA2.score(original: tiny, distorted: tiny) == nil)
        var scores: [Double] = []
        for quality in [90, 60, 20] {
            let decoded = try! TestImages.decode(TestImages.jpeg(photo, quality: quality))
            scores.append(SSIMULACRA2.score(original: photo, distorted: decoded)!)
        }
        #expect(scores[0] > scores[1] && scores[1] > scores[2], "\(scores)")
    }

    @Test("the recursive Gaussian's constants are the published ones for σ 1.5 (radius 5, weights that sum to 1)")
    func gaussian() {
        let gaussian = SSIMULACRA2.RecursiveGaussian(sigma: 1.5)
        #expect(gaussian.radius == 5)
        // A constant image blurs to the same constant away from the borders.
        let plane = [Float](repeating: 1, count: 64 * 64)
        let blurred = gaussian.blur(plane, width: 64, height: 64)
        #expect(abs(blurred[32 * 64 + 32] - 1) < 1e-4, "\(blurred[32 * 64 + 32])")
    }
}
