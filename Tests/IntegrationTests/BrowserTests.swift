import Foundation
import HerdTestSupport
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Debian's Chromium, or any `chromium` on PATH.
private let chromiumPath: String? = {
    if FileManager.default.isExecutableFile(atPath: "/usr/bin/chromium") { return "/usr/bin/chromium" }
    for directory in (ProcessInfo.processInfo.environment["PATH"] ?? "").split(separator: ":") {
        let path = "\(directory)/chromium"
        if FileManager.default.isExecutableFile(atPath: path) { return path }
    }
    return nil
}()

/// What a real browser makes of herd's answers. Headless Chromium
/// (Harness/browser-decode.py) opens an app page through nginx and puts an
/// <img> on it for each image, so Chromium requests them itself, with its
/// own image Accept header (156: `image/jxl,image/avif,image/webp,…`), and
/// nginx and herd negotiate the variant as for any visitor. The script
/// reports what Chromium decoded: the natural size, the Content-Type and
/// size the response had, and the frames WebCodecs' ImageDecoder finds in
/// the very bytes the <img> got.
@Suite("A real browser decodes what herd serves", .serialized,
       .enabled(if: chromiumPath != nil,
                "no Chromium (/usr/bin/chromium or chromium on PATH): scripts/install-deps.sh installs Debian's chromium"))
struct BrowserTests {
    /// One stack configuration and what Chromium should get from it.
    struct Variant: Sendable, CustomTestStringConvertible {
        var name: String
        /// image.formats for the workers and nginx's variant map (AppStack's
        /// `imageFormats`); nil keeps the default, avif,webp.
        var imageFormats: String? = nil
        /// Any other herd flags.
        var herdArguments: [String] = []
        /// The Content-Type Chromium should receive for a still and for the animated GIF.
        var still: String
        var animated: String
        var testDescription: String { name }
    }

    /// The cases, one line each: herd's configuration and the types
    /// Chromium's Accept should negotiate from it.
    static let variants: [Variant] = [
        Variant(name: "default formats: AVIF stills, the GIF as an AVIF sequence", still: "image/avif", animated: "image/avif"),
        Variant(name: "jxl,avif,webp: JPEG XL stills, the GIF as an AVIF sequence", imageFormats: "jxl,avif,webp",
                still: "image/jxl", animated: "image/avif"),
        Variant(name: "webp only: WebP stills, the GIF as animated WebP", imageFormats: "webp", still: "image/webp", animated: "image/webp"),
    ]

    struct Image {
        var path: String
        var width: Int
        var height: Int
        var animated: Bool
    }

    static let animationPath = "/system/media_attachments/files/000/000/009/original/pan.gif"
    static let heicPath = "/system/media_attachments/files/000/000/010/original/iphone.heic"
    static let turnedPath = "/system/media_attachments/files/000/000/011/original/turned.jpg"
    static let images = [
        Image(path: PassthroughTests.photo, width: 640, height: 400, animated: false),  // a JPEG photo
        Image(path: "/system/custom_emojis/images/000/000/001/original/blobcat.png", width: 64, height: 64, animated: false),  // a PNG emoji
        Image(path: animationPath, width: 480, height: 270, animated: true),  // ffmpeg's GIF of a pan over a photo
        Image(path: heicPath, width: 300, height: 400, animated: false),  // an iPhone photo, turned by its container
        Image(path: turnedPath, width: 200, height: 320, animated: false),  // a JPEG with EXIF orientation 6
    ]

    /// Files the demo media does not have, written into the test's origin root.
    static func extraFiles(directory: URL) throws -> [(path: String, bytes: [UInt8])] {
        [
            (animationPath, try AnimatedGIFThroughNginxTests.panGIF(directory: directory)),
            (heicPath, try HEIFImages.heic(TestImages.photo(width: 400, height: 300), quality: 80, orientation: 6)),
            (turnedPath, TestImages.withEXIF(TestImages.jpeg(TestImages.photo(width: 320, height: 200), quality: 85), orientation: 6)),
        ]
    }


    static var chromium: String? { chromiumPath }

    @Test("Chromium decodes every image at its size, gets the variant its Accept negotiates, and plays every frame of the GIF",
          arguments: BrowserTests.variants)
    func decodes(_ variant: Variant) throws {
        let chromium = try #require(Self.chromium)
        // herd's origin: the demo media and the GIF. App pages (the page the
        // images go into) still come from AppStack's own stand-in, through
        // nginx on the same port, so the page and the images share an origin.
        let directory = try Paths.temporaryDirectory("browser")
        let root = directory.appendingPathComponent("media")
        try FileManager.default.copyItem(atPath: Paths.demoMedia, toPath: root.path)
        for (path, bytes) in try Self.extraFiles(directory: directory) {
            let file = root.appendingPathComponent(String(path.dropFirst()))
            try FileManager.default.createDirectory(at: file.deletingLastPathComponent(), withIntermediateDirectories: true)
            try Data(bytes).write(to: file)
        }
        let (media, mediaPort) = try Stack.startOrigin(root: root.path, directory: directory, name: "media-origin")
        defer { media.stop() }
        let stack = try AppStack(herdArguments: variant.herdArguments, upstreamURL: "http://127.0.0.1:\(mediaPort)",
                                 imageFormats: variant.imageFormats)
        defer { stack.stop() }

        let report = try Self.browse(chromium: chromium, port: stack.port, paths: Self.images.map(\.path), directory: directory)
        print("browser: \(report.userAgent), image Accept: \(report.imageAccept ?? "?")")
        try #require(report.images.count == Self.images.count)
        for (expected, seen) in zip(Self.images, report.images) {
            let name = "\(expected.path) (\(seen.contentType ?? "no type"), \(seen.bytes ?? 0) bytes)"
            let frames = seen.frames.map(String.init(describing:)) ?? "no"
            print("browser: \(name): \(seen.width)×\(seen.height), \(frames) frames")
            #expect(seen.path == expected.path)
            #expect(seen.decoded, "\(name): \(seen.error ?? "not decoded")")
            #expect(seen.width == expected.width && seen.height == expected.height, "\(name): \(seen.width)×\(seen.height)")
            #expect(seen.contentType == (expected.animated ? variant.animated : variant.still), "\(name)")
            #expect((seen.bytes ?? 0) > 0, "\(name)")
            #expect(seen.error == nil, "\(name): \(seen.error ?? "")")
            if expected.animated {
                #expect((seen.frames ?? 0) > 1 && seen.animated, "\(name): \(frames) frames")
            } else {
                #expect(seen.frames == 1 && !seen.animated, "\(name): \(frames) frames")
            }
        }
    }

    // MARK: The script

    struct Report: Decodable {
        struct Image: Decodable {
            var path: String
            var decoded: Bool
            var width: Int
            var height: Int
            var frames: Int?
            var animated: Bool
            var contentType: String?
            var bytes: Int?
            var error: String?
        }
        var userAgent: String
        /// The Accept header Chromium sent for the first image.
        var imageAccept: String?
        var images: [Image]
    }

    static var script: String {
        Paths.repository.appendingPathComponent("Tests/IntegrationTests/Harness/browser-decode.py").path
    }

    /// Runs Harness/browser-decode.py against nginx on `port`: its report,
    /// or an error with what it wrote on stderr when Chromium did not run.
    static func browse(chromium: String, port: UInt16, paths: [String], directory: URL, pagePath: String = "/about") throws -> Report {
        let output = directory.appendingPathComponent("browser.json")
        let errors = directory.appendingPathComponent("browser.log")
        for file in [output, errors] { _ = FileManager.default.createFile(atPath: file.path, contents: nil) }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "--chromium", chromium, "--base", "http://127.0.0.1:\(port)",
                             "--page-path", pagePath] + paths
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = try FileHandle(forWritingTo: output)
        process.standardError = try FileHandle(forWritingTo: errors)
        try process.run()
        // The script gives up after 22 s and takes at most 6 more to stop
        // Chromium; SIGTERM makes it stop Chromium too, SIGKILL leaves that
        // to the browser's parent-death signal.
        let deadline = Date().addingTimeInterval(40)
        while process.isRunning, Date() < deadline { usleep(50_000) }
        if process.isRunning {
            kill(process.processIdentifier, SIGTERM)
            let grace = Date().addingTimeInterval(8)
            while process.isRunning, Date() < grace { usleep(50_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            throw HTTPClientError(description: "browser-decode.py did not finish in 40 s: \((try? String(contentsOf: errors, encoding: .utf8)) ?? "")")
        }
        let stderr = (try? String(contentsOf: errors, encoding: .utf8)) ?? ""
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            throw HTTPClientError(description: "browser-decode.py failed (\(process.terminationStatus)): \(stderr)")
        }
        do {
            return try JSONDecoder().decode(Report.self, from: Data(contentsOf: output))
        } catch {
            let text = (try? String(contentsOf: output, encoding: .utf8)) ?? ""
            throw HTTPClientError(description: "browser-decode.py printed no report (\(error)): \(text) \(stderr)")
        }
    }
}
