import Foundation
import HerdTestSupport
import Imaging
import Testing

/// HEIC sources through nginx → herd, decoded in the worker's bounded child.
@Suite("HEIC through nginx")
struct HEICThroughNginxTests {
    @Test("an iPhone-like HEIC: AVIF for Chrome, JPEG for a client that names no format, turned as the container says; never the HEIC itself")
    func converted() throws {
        let heic = try HEIFImages.heic(TestImages.photo(width: 800, height: 600), quality: 80, orientation: 6)
        let stack = try Stack(.init(files: ["/media/phone/photo.heic": heic]))
        defer { stack.stop() }
        let avif = try stack.get("/media/phone/photo.heic", headers: [("Accept", ConversionTests.chrome)])
        #expect(avif.status == 200)
        #expect(avif.header("Content-Type") == "image/avif")
        let avifImage = try TestImages.decode(avif.body)
        #expect((avifImage.width, avifImage.height) == (600, 800))
        for accept in ["*/*", "image/heic,image/*"] {
            let jpeg = try stack.get("/media/phone/photo.heic", headers: [("Accept", accept)])
            #expect(jpeg.status == 200, "\(accept)")
            #expect(jpeg.header("Content-Type") == "image/jpeg", "\(accept)")
            #expect(ImageFormat.sniff(jpeg.body) == .jpeg, "\(accept)")
        }
    }

    /// The container says 64×64; the HEVC stream inside is 3000×2000.
    static func sizeBomb() throws -> [UInt8] {
        var heic = try HEIFImages.heic(TestImages.photo(width: 3000, height: 2000), quality: 10)
        let ispe = Array("ispe".utf8)
        var patched = 0
        for index in 4..<(heic.count - 16) where heic[index..<(index + 4)].elementsEqual(ispe) {
            for (offset, value) in [(8, 64), (12, 64)] {
                for byte in 0..<4 { heic[index + offset + byte] = UInt8(truncatingIfNeeded: value >> (8 * (3 - byte))) }
            }
            patched += 1
        }
        #expect(patched >= 1)
        return heic
    }

    @Test("a HEIC whose stream is far larger than its container says: a clear error, short-lived, and the worker's memory untouched")
    func sizeBombRefused() throws {
        let bomb = try Self.sizeBomb()
        let stack = try Stack(.init(files: ["/media/phone/bomb.heic": bomb]))
        defer { stack.stop() }
        let before = try #require(stack.herd.memoryKiB("VmHWM"))
        for accept in [ConversionTests.chrome, "*/*"] {
            let response = try stack.get("/media/phone/bomb.heic", headers: [("Accept", accept)])
            #expect([415, 502].contains(response.status), "\(accept): \(response.status)")
            #expect(response.header("Content-Type")?.hasPrefix("image/heic") != true)
            #expect(response.header("Cache-Control")?.contains("max-age=5") == true || response.header("Cache-Control") == "no-store",
                    "\(accept): \(response.header("Cache-Control") ?? "none")")
        }
        let after = try #require(stack.herd.memoryKiB("VmHWM"))
        // The 6 MP raster never reaches the worker (the child's output is
        // capped to what 64×64 needs); the worker grows by its buffers only.
        #expect(after - before < 64 * 1024, "VmHWM \(before) → \(after) KiB")
        #expect(stack.herd.isRunning)
    }
}
