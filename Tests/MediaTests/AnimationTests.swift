import Foundation
import HerdTestSupport
import Imaging
import Negotiation
import Testing
import Herd
@testable import Media
import Settings

/// Animated GIF → animated WebP: every frame composited as a browser plays
/// the GIF (disposal, transparency), each frame's time and the loop count
/// kept; the original where a client can show nothing better.
@Suite("Animated GIF to animated WebP")
struct AnimationTests {
    static let red: (UInt8, UInt8, UInt8) = (220, 20, 20)
    static let green: (UInt8, UInt8, UInt8) = (20, 200, 20)
    static let blue: (UInt8, UInt8, UInt8) = (20, 20, 220)

    /// A red canvas; a green square kept (disposal 1); a blue square then
    /// cleared to the background (2); a yellow square over the cleared
    /// area, then restored to the previous canvas (3); a last frame.
    static let frames: [TestImages.GIFFrame] = [
        .init(left: 0, top: 0, width: 64, height: 48, color: red, delay: 20),
        .init(left: 8, top: 8, width: 12, height: 12, color: green, delay: 5),
        .init(left: 30, top: 20, width: 12, height: 12, color: blue, delay: 10, disposal: 2),
        .init(left: 44, top: 30, width: 10, height: 10, color: (230, 220, 20), delay: 30, disposal: 3),
        .init(left: 0, top: 40, width: 4, height: 4, color: green, delay: 1),
    ]

    static func close(_ pixel: (Int, Int, Int, Int), _ color: (UInt8, UInt8, UInt8), alpha: Int = 255) -> Bool {
        abs(pixel.0 - Int(color.0)) < 40 && abs(pixel.1 - Int(color.1)) < 40 && abs(pixel.2 - Int(color.2)) < 40
            && abs(pixel.3 - alpha) < 8
    }

    @Test("frames composited with their disposal, times and loop count kept")
    func composited() throws {
        let gif = TestImages.animatedGIF(width: 64, height: 48, frames: Self.frames, loop: 3)
        let output = try ImagePipeline().convert(gif, to: .webp)
        #expect(output.format == .webp)
        let animation = try #require(TestImages.decodeAnimatedWebP(output.bytes))
        #expect(animation.width == 64 && animation.height == 48)
        #expect(animation.loopCount == 3)
        // 200, 50, 100, 300 ms; a 10 ms delay plays as 100 ms, as in browsers.
        #expect(animation.frames.map(\.endMs) == [200, 250, 350, 650, 750])
        let f = animation.frames.map(\.image)
        #expect(Self.close(TestImages.pixel(f[0], 1, 1), Self.red))
        #expect(Self.close(TestImages.pixel(f[1], 12, 12), Self.green))
        #expect(Self.close(TestImages.pixel(f[2], 35, 25), Self.blue))
        #expect(Self.close(TestImages.pixel(f[2], 12, 12), Self.green), "disposal 1 keeps the green square")
        // Disposal 2: the blue square's area is transparent from frame 3 on.
        #expect(TestImages.pixel(f[3], 35, 25).3 < 8, "disposal 2 clears to transparent")
        #expect(Self.close(TestImages.pixel(f[3], 48, 34), (230, 220, 20)))
        // Disposal 3: the yellow square is gone again in frame 4.
        #expect(Self.close(TestImages.pixel(f[4], 48, 34), Self.red), "disposal 3 restores the previous canvas")
        #expect(Self.close(TestImages.pixel(f[4], 1, 41), Self.green))
    }

    @Test("no loop extension plays once; loop 0 forever")
    func loops() throws {
        for (loop, expected) in [(nil, 1), (0, 0)] as [(Int?, Int)] {
            let gif = TestImages.animatedGIF(width: 64, height: 48, frames: Self.frames, loop: loop)
            let animation = try #require(TestImages.decodeAnimatedWebP(try ImagePipeline().convert(gif, to: .webp).bytes))
            #expect(animation.loopCount == expected)
        }
    }

    @Test("fitted within max_dimension, every frame")
    func fitted() throws {
        let gif = TestImages.animatedGIF(width: 64, height: 48, frames: Self.frames)
        let animation = try #require(TestImages.decodeAnimatedWebP(try ImagePipeline(maxDimension: 32).convert(gif, to: .webp).bytes))
        #expect(animation.width == 32 && animation.height == 24)
        #expect(animation.frames.count == 5)
    }

    @Test("caps before decoding: frames, and pixels over all frames")
    func caps() {
        let gif = TestImages.animatedGIF(width: 64, height: 48, frames: Self.frames)
        #expect(throws: ImageError.self) { try ImagePipeline(limits: ImageLimits(maxFrames: 4)).convert(gif, to: .webp) }
        #expect(throws: ImageError.self) {
            try ImagePipeline(limits: ImageLimits(maxAnimationPixels: 64 * 48 * 4)).convert(gif, to: .webp)
        }
        #expect((try? ImagePipeline(limits: ImageLimits(maxAnimationPixels: 64 * 48 * 5)).convert(gif, to: .webp)) != nil)
    }

    @Test("the time budget applies across frames, not only between steps")
    func budget() throws {
        // 60 full 640×480 frames take far over 20 ms to encode; the probe
        // takes microseconds: the budget runs out between frames.
        let big = (0..<60).map { TestImages.GIFFrame(left: 0, top: 0, width: 640, height: 480,
                                                      color: ($0 % 2 == 0 ? Self.red : Self.blue), delay: 4) }
        let gif = TestImages.animatedGIF(width: 640, height: 480, frames: big)
        let error = #expect(throws: ImageError.self) { try ImagePipeline(timeBudget: 0.02).convert(gif, to: .webp) }
        #expect(error?.kind == .timeout)
        #expect(error?.detail.contains("frame") == true, "\(String(describing: error))")
    }

    @Test("an AVIF sequence for an AVIF client when the GIF loops forever (animated WebP when it stops), every frame and its time")
    func avifSequence() throws {
        let forever = TestImages.animatedGIF(width: 64, height: 48, frames: Self.frames, loop: 0)
        let output = try ImagePipeline().convert(forever, to: .avif)
        #expect(output.format == .avif)
        let sequence = try #require(TestImages.decodeAVIFSequence(output.bytes))
        #expect(sequence.frames.map(\.endMs) == [200, 250, 350, 650, 750])
        let f = sequence.frames.map(\.image)
        #expect(Self.close(TestImages.pixel(f[1], 12, 12), Self.green))
        #expect(TestImages.pixel(f[3], 35, 25).3 < 8, "transparency kept")
        #expect(Self.close(TestImages.pixel(f[4], 48, 34), Self.red))

        let once = TestImages.animatedGIF(width: 64, height: 48, frames: Self.frames, loop: nil)
        let stops = try ImagePipeline().convert(once, to: .avif)
        #expect(stops.format == .webp)
        #expect(try #require(TestImages.decodeAnimatedWebP(stops.bytes)).loopCount == 1)
    }

    @Test("through the media path: animated WebP for a WebP client, never larger, the GIF for the rest")
    func mediaPath() throws {
        let gif = TestImages.animatedGIF(width: 64, height: 48, frames: Self.frames)
        let origin = ScriptedOrigin { _ in .init(headers: [("Content-Type", "image/gif")], body: gif) }
        let handler = MediaPathTests.handler(origin)
        let webp = MediaPathTests.serve(handler, RecordedParams("GET", "/media/a.gif", ["HERD_VARIANT": "webp"]))
        #expect(webp.status == 200)
        if webp.header("Content-Type") == "image/webp" {
            #expect(try #require(TestImages.decodeAnimatedWebP(webp.body)).frames.count == 5)
            #expect(webp.body.count < gif.count)
        } else {
            // Never larger: a tiny GIF may stay a GIF.
            #expect(webp.header("Content-Type") == "image/gif")
            #expect(webp.body == gif)
        }
        let orig = MediaPathTests.serve(handler, RecordedParams("GET", "/media/a.gif", ["HERD_VARIANT": "orig"]))
        #expect(orig.body == gif)
    }

    @Test("the variant decides: animated WebP for WebP and AVIF clients, the GIF for the rest")
    func variants() {
        #expect(ImageConversion.target(for: .avif, source: .gif, animated: true) == .avif)
        #expect(ImageConversion.target(for: .webp, source: .gif, animated: true) == .webp)
        #expect(ImageConversion.target(for: .orig, source: .gif, animated: true) == nil)
        #expect(ImageConversion.target(for: .avif, source: .gif, animated: false) == .avif)
    }
}

@Suite("Other animations")
struct OtherAnimationTests {
    @Test("an animated WebP goes as it is to WebP and AVIF clients, as its first frame (JPEG) to the rest")
    func animatedWebP() throws {
        let gif = TestImages.animatedGIF(width: 64, height: 48, frames: AnimationTests.frames)
        let webp = try ImagePipeline().convert(gif, to: .webp).bytes
        #expect(ImageConversion.target(for: .avif, source: .webp, animated: true) == nil)
        #expect(ImageConversion.target(for: .webp, source: .webp, animated: true) == nil)
        #expect(ImageConversion.target(for: .orig, source: .webp, animated: true) == .jpeg)
        #expect(ImageConversion.target(for: .orig, source: .png, animated: true) == nil)  // APNG: every browser shows it
        #expect(ImageConversion.target(for: .webp, source: .avif, animated: true) == .webp)  // a still, for a client without AVIF
        let still = try ImagePipeline().convert(webp, to: .jpeg)
        let image = try TestImages.decode(still.bytes)
        #expect(image.width == 64 && image.height == 48)
        #expect(AnimationTests.close(TestImages.pixel(image, 1, 1), AnimationTests.red))

        let origin = ScriptedOrigin { _ in .init(headers: [("Content-Type", "image/webp")], body: webp) }
        let handler = MediaPathTests.handler(origin)
        let avifClient = MediaPathTests.serve(handler, RecordedParams("GET", "/media/a.webp", ["HERD_VARIANT": "avif"]))
        #expect(avifClient.body == webp)
        let oldClient = MediaPathTests.serve(handler, RecordedParams("GET", "/media/a.webp", ["HERD_VARIANT": "orig"]))
        #expect(oldClient.header("Content-Type") == "image/jpeg")
    }
}

@Suite("Animated WebP re-encoded")
struct AnimatedWebPTests {
    static func source(loop: Int? = 0) throws -> [UInt8] {
        let gif = TestImages.animatedGIF(width: 64, height: 48, frames: AnimationTests.frames, loop: loop)
        return try ImagePipeline().convert(gif, to: .webp).bytes
    }

    @Test("fitted, every frame composited, its time, the loop count and transparency kept (WebP and AVIF out)")
    func fitted() throws {
        var pipeline = ImagePipeline()
        pipeline.fitBox = FitBox(width: 0, height: 24)
        let webp = try pipeline.convert(try Self.source(loop: 3), to: .webp)
        let animation = try #require(TestImages.decodeAnimatedWebP(webp.bytes))
        #expect(webp.format == .webp && animation.width == 32 && animation.height == 24 && animation.loopCount == 3)
        #expect(animation.frames.map(\.endMs) == [200, 250, 350, 650, 750])
        let f = animation.frames.map(\.image)
        #expect(AnimationTests.close(TestImages.pixel(f[1], 6, 6), AnimationTests.green))
        #expect(TestImages.pixel(f[3], 17, 12).3 < 8, "disposal to transparent kept")
        #expect(AnimationTests.close(TestImages.pixel(f[4], 24, 17), AnimationTests.red))

        let avif = try pipeline.convert(try Self.source(loop: 0), to: .avif)
        let sequence = try #require(TestImages.decodeAVIFSequence(avif.bytes))
        #expect(avif.format == .avif && sequence.width == 32 && sequence.height == 24)
        #expect(sequence.frames.map(\.endMs) == [200, 250, 350, 650, 750])
        #expect(TestImages.pixel(sequence.frames[3].image, 17, 12).3 < 8, "alpha kept")
        // One that stops becomes animated WebP, which can say so.
        #expect(try pipeline.convert(try Self.source(loop: 2), to: .avif).format == .webp)
    }

    @Test("the probe counts its frames: the caps on frames and on pixels over all frames apply before decoding")
    func caps() throws {
        let webp = try Self.source()
        let info = try webp.withUnsafeBytes { try Probe.run($0, limits: ImageLimits()) }
        #expect(info.frames == 5 && info.hasAlpha)
        #expect(throws: ImageError.self) { try ImagePipeline(limits: ImageLimits(maxFrames: 4)).convert(webp, to: .webp) }
        #expect(throws: ImageError.self) { try ImagePipeline(limits: ImageLimits(maxAnimationPixels: 64 * 48 * 4)).convert(webp, to: .webp) }
    }

    @Test("a truncated animation is refused, not half played")
    func truncated() throws {
        let webp = try Self.source()
        let cut = Array(webp.prefix(webp.count * 2 / 3))
        #expect(throws: ImageError.self) { try ImagePipeline().convert(cut, to: .webp) }
    }
}

@Suite("APNG re-encoded")
struct APNGTests {
    static let yellow: (UInt8, UInt8, UInt8) = (230, 220, 20)
    /// As AnimationTests.frames, in APNG's terms, and a last frame of half
    /// transparent white blended over the red.
    static func frames() -> [TestImages.APNGFrame] {
        [
            .init(TestImages.solid(width: 64, height: 48, AnimationTests.red), delayMs: 200),
            .init(TestImages.solid(width: 12, height: 12, AnimationTests.green), left: 8, top: 8, delayMs: 50),
            .init(TestImages.solid(width: 12, height: 12, AnimationTests.blue), left: 30, top: 20, delayMs: 100, dispose: 1),
            .init(TestImages.solid(width: 10, height: 10, yellow), left: 44, top: 30, delayMs: 300, dispose: 2),
            .init(TestImages.solid(width: 4, height: 4, (255, 255, 255), alpha: 128), left: 0, top: 40, delayMs: 5, blend: 1),
        ]
    }

    @Test("blend and dispose as browsers play them; times (10 ms or less shown as 100), loop count", arguments: [false, true])
    func composited(hiddenDefault: Bool) throws {
        let apng = TestImages.apng(Self.frames(), plays: 3, hiddenDefault: hiddenDefault)
        let output = try ImagePipeline().convert(apng, to: .webp)
        let animation = try #require(TestImages.decodeAnimatedWebP(output.bytes))
        #expect(output.format == .webp && animation.width == 64 && animation.height == 48 && animation.loopCount == 3)
        #expect(animation.frames.map(\.endMs) == [200, 250, 350, 650, 750])
        let f = animation.frames.map(\.image)
        #expect(AnimationTests.close(TestImages.pixel(f[0], 1, 1), AnimationTests.red), "the default image is not shown when hidden")
        #expect(AnimationTests.close(TestImages.pixel(f[1], 12, 12), AnimationTests.green))
        #expect(AnimationTests.close(TestImages.pixel(f[2], 35, 25), AnimationTests.blue))
        #expect(AnimationTests.close(TestImages.pixel(f[2], 12, 12), AnimationTests.green), "dispose none keeps the green square")
        #expect(TestImages.pixel(f[3], 35, 25).3 < 8, "dispose background clears to transparent")
        #expect(AnimationTests.close(TestImages.pixel(f[3], 48, 34), Self.yellow))
        #expect(AnimationTests.close(TestImages.pixel(f[4], 48, 34), AnimationTests.red), "dispose previous restores the canvas")
        #expect(AnimationTests.close(TestImages.pixel(f[4], 1, 41), (237, 137, 137)), "\(TestImages.pixel(f[4], 1, 41)): blended over")
    }

    @Test("fitted, as an AVIF sequence when it plays forever; the probe counts frames and the caps apply")
    func fittedAndCapped() throws {
        let apng = TestImages.apng(Self.frames())
        var pipeline = ImagePipeline()
        pipeline.fitBox = FitBox(width: 0, height: 24)
        let avif = try pipeline.convert(apng, to: .avif)
        let sequence = try #require(TestImages.decodeAVIFSequence(avif.bytes))
        #expect(avif.format == .avif && sequence.width == 32 && sequence.height == 24 && sequence.frames.count == 5)
        let info = try apng.withUnsafeBytes { try Probe.run($0, limits: ImageLimits()) }
        #expect(info.frames == 5 && info.isAnimated)
        #expect(throws: ImageError.self) { try ImagePipeline(limits: ImageLimits(maxFrames: 4)).convert(apng, to: .webp) }
        // Still: the default image, as before.
        let still = try ImagePipeline().convert(apng, to: .jpeg)
        #expect(AnimationTests.close(TestImages.pixel(try TestImages.decode(still.bytes), 1, 1), AnimationTests.red))
    }

    @Test("hostile files: cut, a frame outside the canvas, fdAT before its frame — refused, never drawn out of bounds")
    func hostile() throws {
        let apng = TestImages.apng(Self.frames())
        #expect(throws: ImageError.self) { try ImagePipeline().convert(Array(apng.prefix(apng.count - 40)), to: .webp) }
        var outside = Self.frames()
        outside[2].left = 60
        #expect(throws: ImageError.self) { try ImagePipeline().convert(TestImages.apng(outside), to: .webp) }
        // Every byte flipped in turn, in the chunk headers: refused or played, never a crash.
        for index in stride(from: 33, to: min(apng.count, 400), by: 3) {
            var broken = apng
            broken[index] ^= 0x5a
            _ = try? ImagePipeline().convert(broken, to: .webp)
        }
    }

    @Test("through Misskey's emoji preset: fitted and still animated (the reference makes it still)")
    func misskeyEmoji() throws {
        let big = [TestImages.APNGFrame(TestImages.solid(width: 400, height: 300, AnimationTests.red), delayMs: 100),
                   TestImages.APNGFrame(TestImages.solid(width: 100, height: 100, AnimationTests.blue), left: 50, top: 50, delayMs: 100)]
        let apng = TestImages.apng(big)
        let handler = MisskeyProxyTests.handler(MisskeyProxyTests.serving(apng, type: "image/png"))
        let emoji = MisskeyProxyTests.get(handler, MisskeyProxyTests.query(MisskeyProxyTests.remoteURL, "&emoji"))
        let info = try #require(emoji.body.withUnsafeBytes { try? Probe.run($0, limits: ImageLimits()) })
        #expect(emoji.header("Content-Type") == "image/webp" && info.isAnimated && info.frames == 2 && info.height == 128, "\(info)")
        let small = MisskeyProxyTests.get(handler, MisskeyProxyTests.query(MisskeyProxyTests.remoteURL, "&avatar"))
        #expect(small.body == apng, "within the avatar's 320: as it is")
        // Over the caps on frames: as it is (never decoded), not a 404.
        let capped = MisskeyProxyTests.handler(MisskeyProxyTests.serving(apng, type: "image/png")) { $0.image.maxFrames = 1 }
        let overCaps = MisskeyProxyTests.get(capped, MisskeyProxyTests.query(MisskeyProxyTests.remoteURL, "&emoji"))
        #expect(overCaps.status == 200 && overCaps.body == apng, "\(overCaps.status)")
    }
}

/// What a hostile review of the animation readers found (2026-12-08).
@Suite("Animations from hostile or odd files")
struct HostileAnimationTests {
    /// `frames` copies of a 1×1 animated WebP's ANMF chunk in one file.
    static func manyFrameWebP(_ frames: Int) throws -> [UInt8] {
        let one = try ImagePipeline().convert(TestImages.animatedGIF(width: 1, height: 1, frames: [
            .init(left: 0, top: 0, width: 1, height: 1, color: AnimationTests.red, delay: 10),
            .init(left: 0, top: 0, width: 1, height: 1, color: AnimationTests.blue, delay: 10),
        ]), to: .webp).bytes
        func u32(_ at: Int) -> Int { Int(one[at]) | Int(one[at + 1]) << 8 | Int(one[at + 2]) << 16 | Int(one[at + 3]) << 24 }
        var head: [UInt8] = [], anmf: [UInt8] = []
        var offset = 12
        while offset + 8 <= one.count {
            let size = u32(offset + 4), end = offset + 8 + size + (size & 1)
            if String(decoding: one[offset..<(offset + 4)], as: UTF8.self) == "ANMF" {
                if anmf.isEmpty { anmf = Array(one[offset..<end]) }
            } else {
                head += one[offset..<end]
            }
            offset = end
        }
        var body = head
        for _ in 0..<frames { body += anmf }
        let size = body.count + 4
        return Array("RIFF".utf8) + [UInt8(size & 0xff), UInt8(size >> 8 & 0xff), UInt8(size >> 16 & 0xff), UInt8(size >> 24)]
            + Array("WEBP".utf8) + body
    }

    @Test("an animated WebP's frames are counted in one walk, and the cap refuses a file of 50,000")
    func manyFrames() throws {
        let webp = try Self.manyFrameWebP(50_000)
        let info = try webp.withUnsafeBytes { try Probe.run($0, limits: ImageLimits(maxFrames: 100_000, maxAnimationPixels: 100_000)) }
        #expect(info.frames == 50_000)
        let error = #expect(throws: ImageError.self) { try webp.withUnsafeBytes { try Probe.run($0, limits: ImageLimits()) } }
        #expect(error?.kind == .tooManyFrames)
    }

    @Test("an APNG's CRCs and sequence numbers are checked, as browsers do")
    func crcAndSequence() throws {
        let apng = TestImages.apng(APNGTests.frames())
        // The second fcTL (after the first frame's IDAT): its CRC, then its sequence number.
        let fcTL = Array("fcTL".utf8)
        let second = try #require((0..<(apng.count - 4)).filter { Array(apng[$0..<($0 + 4)]) == fcTL }.dropFirst().first)
        var badCRC = apng
        badCRC[second + 4 + 26] ^= 0xff
        #expect(throws: ImageError.self) { try ImagePipeline().convert(badCRC, to: .webp) }
        var badSequence = apng
        badSequence[second + 7] = 9
        let crc = TestImages.crc32(Array(badSequence[second..<(second + 30)]))
        for shift in 0..<4 { badSequence[second + 30 + shift] = UInt8(crc >> (24 - 8 * UInt32(shift)) & 0xff) }
        let error = #expect(throws: ImageError.self) { try ImagePipeline().convert(badSequence, to: .webp) }
        #expect(error?.detail.contains("sequence") == true, "\(String(describing: error))")
    }

    @Test("a loop count over 16 bits plays forever; a frame of 18 hours is shown as long as WebP can say")
    func outOfRangeTimes() throws {
        var frames = APNGTests.frames()
        frames[1].delayMs = 65_000
        frames[1].delayDenominator = 1   // 65,000 s
        let output = try ImagePipeline().convert(TestImages.apng(frames, plays: 70_000), to: .webp)
        let animation = try #require(TestImages.decodeAnimatedWebP(output.bytes))
        #expect(animation.loopCount == 0)
        #expect(animation.frames.map(\.endMs)[1] - animation.frames.map(\.endMs)[0] == (1 << 24) - 1)
    }

    @Test("Misskey: an animation cut short answers the specification's 404 (or the placeholder with fallback), never a year-long as-is")
    func cutShort() throws {
        let big = TestImages.animatedGIF(width: 400, height: 300, frames: [
            .init(left: 0, top: 0, width: 400, height: 300, color: AnimationTests.red, delay: 10),
            .init(left: 100, top: 100, width: 200, height: 100, color: AnimationTests.blue, delay: 10),
        ])
        let webp = try ImagePipeline().convert(big, to: .webp).bytes
        let apng = TestImages.apng([TestImages.APNGFrame(TestImages.solid(width: 400, height: 300, AnimationTests.red), delayMs: 100),
                                    TestImages.APNGFrame(TestImages.solid(width: 100, height: 100, AnimationTests.blue), left: 5, top: 5, delayMs: 100)])
        for (source, type) in [(Array(webp.prefix(webp.count - 20)), "image/webp"), (Array(apng.prefix(apng.count - 30)), "image/png")] {
            let handler = MisskeyProxyTests.handler(MisskeyProxyTests.serving(source, type: type))
            let emoji = MisskeyProxyTests.get(handler, MisskeyProxyTests.query(MisskeyProxyTests.remoteURL, "&emoji"))
            #expect(emoji.status == 404 && emoji.header("Cache-Control") == "max-age=300", "\(type): \(emoji.status)")
            let fallback = MisskeyProxyTests.get(handler, MisskeyProxyTests.query(MisskeyProxyTests.remoteURL, "&emoji&fallback"))
            #expect(fallback.status == 200 && fallback.header("Cache-Control") == "max-age=300", "\(type): \(fallback.status)")
        }
    }

    @Test("an animated WebP: libwebp's own frame count is capped (ANMF chunks nested in another count too), and alpha is judged per frame")
    func webpCountAndAlpha() throws {
        // Opaque full-canvas frames: no alpha plane needed.
        let opaque = try ImagePipeline().convert(TestImages.animatedGIF(width: 64, height: 48, frames: [
            .init(left: 0, top: 0, width: 64, height: 48, color: AnimationTests.red, delay: 10),
            .init(left: 0, top: 0, width: 64, height: 48, color: AnimationTests.blue, delay: 10),
        ], loop: 0), to: .webp).bytes
        let info = try opaque.withUnsafeBytes { try Probe.run($0, limits: ImageLimits()) }
        #expect(info.frames == 2)
        // The same frames with a transparent one: alpha.
        let clear = try AnimatedWebPTests.source()
        #expect(try clear.withUnsafeBytes { try Probe.run($0, limits: ImageLimits()) }.hasAlpha)
        // Nested: the first ANMF's declared size swallows the others; libwebp still plays them all.
        let flat = try Self.manyFrameWebP(6)
        func u32(_ at: Int) -> Int { Int(flat[at]) | Int(flat[at + 1]) << 8 | Int(flat[at + 2]) << 16 | Int(flat[at + 3]) << 24 }
        var offset = 12, firstANMF = 0
        while offset + 8 <= flat.count {
            if String(decoding: flat[offset..<(offset + 4)], as: UTF8.self) == "ANMF" { firstANMF = offset; break }
            offset += 8 + u32(offset + 4) + (u32(offset + 4) & 1)
        }
        var nested = flat
        let swallowed = flat.count - firstANMF - 8
        for shift in 0..<4 { nested[firstANMF + 4 + shift] = UInt8(swallowed >> (8 * shift) & 0xff) }
        let counted = try nested.withUnsafeBytes { try Probe.run($0, limits: ImageLimits(maxFrames: 100, maxAnimationPixels: 1000)) }.frames
        let played = try #require(TestImages.decodeAnimatedWebP(nested)).frames.count
        #expect(counted == played, "probe \(counted), libwebp \(played)")
        #expect(throws: ImageError.self) { try ImagePipeline(limits: ImageLimits(maxFrames: played - 1)).convert(nested, to: .webp) }
    }
}

@Suite("16-bit PNGs")
struct SixteenBitPNGTests {
    @Test("16-bit samples without gAMA or sRGB are sRGB-encoded, as browsers show them")
    func untagged16Bit() throws {
        let gray = RasterImage(width: 8, height: 8, channels: 3, pixels: [UInt8](repeating: 128, count: 8 * 8 * 3))
        let tagged = TestImages.png(gray, kind: .gray16)
        // The same samples with the colour chunks taken out.
        var untagged: [UInt8] = Array(tagged.prefix(8))
        var offset = 8
        var sample: Int?
        while offset + 12 <= tagged.count {
            let length = Int(tagged[offset]) << 24 | Int(tagged[offset + 1]) << 16 | Int(tagged[offset + 2]) << 8 | Int(tagged[offset + 3])
            let type = String(decoding: tagged[(offset + 4)..<(offset + 8)], as: UTF8.self)
            if !["gAMA", "sRGB", "cHRM", "iCCP"].contains(type) { untagged += tagged[offset..<(offset + 12 + length)] }
            offset += 12 + length
        }
        // The stored 16-bit sample (linear light for 128): its high byte is what an sRGB reading shows.
        let decodedTagged = try TestImages.decode(tagged)
        #expect(abs(Int(decodedTagged.pixels[0]) - 128) <= 1, "tagged: \(decodedTagged.pixels[0])")
        let linear = pow((128.0 / 255 + 0.055) / 1.055, 2.4)
        sample = Int((linear * 65535).rounded()) >> 8
        let image = try ImagePipeline().prepare(untagged).image
        #expect(abs(Int(image.pixels[0]) - sample!) <= 1, "untagged: \(image.pixels[0]), stored high byte \(sample!)")
    }
}
