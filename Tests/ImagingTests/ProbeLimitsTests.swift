import HerdTestSupport
import Testing
@testable import Imaging

/// Limits read from the header, before a pixel is decoded.
@Suite("Probe limits")
struct ProbeLimitsTests {
    @Test("a GIF frame larger than its canvas is refused before decoding (giflib would decode it at its own size)")
    func gifFrameBeyondCanvas() {
        var gif = TestImages.gif(TestImages.quadrants(width: 64, height: 48))
        // Shrink the logical screen to 1×1: the 64×48 frame now lies outside it.
        gif[6] = 1; gif[7] = 0; gif[8] = 1; gif[9] = 0
        let result = gif.withUnsafeBytes { bytes in Result { () throws(ImageError) in try Probe.run(bytes, limits: ImageLimits()) } }
        guard case .failure(let error) = result else { Issue.record("probed as \(result)"); return }
        #expect(error.kind == .corrupt)
        // The same file with its canvas intact probes.
        let intact = TestImages.gif(TestImages.quadrants(width: 64, height: 48))
        let info = intact.withUnsafeBytes { try? Probe.run($0, limits: ImageLimits()) }
        #expect(info?.width == 64 && info?.height == 48)
    }
}
