import Foundation
import HerdTestSupport
import Imaging
import Testing

/// Animated GIFs end to end: a GIF made by ffmpeg from a photo panned
/// over ten frames a second (dithered, as real GIFs are), served through
/// nginx to a browser as an AVIF sequence or animated WebP, and to the rest
/// as the GIF.
@Suite("Animated GIF through nginx")
struct AnimatedGIFThroughNginxTests {
    /// A real animated GIF: a 480×270 window panning over a photo, 20
    /// frames at 10 fps, palettes made by ffmpeg (as GIFs from video are).
    static func panGIF(directory: URL) throws -> [UInt8] {
        let photo = directory.appendingPathComponent("photo.jpg")
        try Data(TestImages.jpeg(TestImages.photo(width: 960, height: 540), quality: 90)).write(to: photo)
        let gif = directory.appendingPathComponent("pan.gif")
        let ffmpeg = Process()
        ffmpeg.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        ffmpeg.arguments = ["ffmpeg", "-nostdin", "-loglevel", "error", "-y", "-loop", "1", "-t", "2", "-r", "10", "-i", photo.path,
                            "-vf", "crop=480:270:x='t*200':y='t*60',split[a][b];[a]palettegen[p];[b][p]paletteuse", gif.path]
        try ffmpeg.run()
        ffmpeg.waitUntilExit()
        #expect(ffmpeg.terminationStatus == 0)
        return Array(try Data(contentsOf: gif))
    }

    @Test("Chrome gets an AVIF sequence, Safari 16 an animated WebP, every frame, far smaller; */* the GIF; HEAD and a second GET agree")
    func animatedWebP() throws {
        let directory = try Paths.temporaryDirectory("anim")
        let source = try Self.panGIF(directory: directory)
        let stack = try Stack(.init(files: ["/media/anim/pan.gif": source]))
        defer { stack.stop() }

        // Chrome takes AVIF: an AVIF sequence (the GIF loops forever).
        let avif = try stack.get("/media/anim/pan.gif", headers: [("Accept", ConversionTests.chrome)])
        #expect(avif.status == 200)
        #expect(avif.header("Content-Type") == "image/avif")
        let sequence = TestImages.decodeAVIFSequence(avif.body)
        #expect(sequence?.frames.count == 20)
        #expect(sequence?.width == 480 && sequence?.height == 270)
        #expect(sequence?.frames.last?.endMs == 2000)
        #expect(avif.body.count * 5 < source.count, "GIF \(source.count) bytes, AVIF \(avif.body.count)")

        // Safari 16 takes WebP, not AVIF: animated WebP.
        let webp = try stack.get("/media/anim/pan.gif", headers: [("Accept", ConversionTests.safari16)])
        #expect(webp.status == 200)
        #expect(webp.header("Content-Type") == "image/webp")
        #expect(webp.header("X-Herd-Variant") == "webp")
        let animation = TestImages.decodeAnimatedWebP(webp.body)
        #expect(animation?.frames.count == 20)
        #expect(animation?.width == 480 && animation?.height == 270)
        #expect(animation?.frames.last?.endMs == 2000)
        #expect(animation?.loopCount == 0)
        #expect(webp.body.count * 2 < source.count, "GIF \(source.count) bytes, WebP \(webp.body.count)")
        print("animated GIF through nginx: 20 frames 480×270, GIF \(source.count) bytes → AVIF sequence \(avif.body.count) bytes, "
              + "animated WebP \(webp.body.count) bytes")

        let head = try stack.get("/media/anim/pan.gif", method: "HEAD", headers: [("Accept", ConversionTests.safari16)])
        #expect(head.header("Content-Length") == String(webp.body.count))
        #expect(head.header("ETag") == webp.header("ETag"))
        let again = try stack.get("/media/anim/pan.gif", headers: [("Accept", ConversionTests.safari16)])
        #expect(again.body == webp.body)

        let other = try stack.get("/media/anim/pan.gif", headers: [("Accept", "*/*")])
        #expect(other.body == source)
        #expect(other.header("Content-Type") == "image/gif")
    }
}
