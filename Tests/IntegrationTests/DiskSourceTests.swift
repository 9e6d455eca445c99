import Foundation
import Testing
#if canImport(Glibc)
import Glibc
import HerdTestSupport
#endif

/// Mastodon with local storage: media read from files below
/// `upstream.root`; images converted by herd, originals and videos sent by
/// nginx from disk (X-Accel-Redirect), nothing outside the root reachable.
@Suite("Media from disk (upstream.root)")
struct DiskSourceTests {
    static let photo = "/system/media_attachments/files/000/000/001/original/photo.jpg"
    static let video = "/system/media_attachments/files/000/000/002/original/clip.mp4"

    /// root/system/… (the demo media), a secret beside the root, and files
    /// that try to lead out of it.
    static func makeRoot() throws -> (root: URL, directory: URL) {
        let directory = try Paths.temporaryDirectory("disk")
        let root = directory.appendingPathComponent("public")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: Paths.demoMedia + "/system", toPath: root.appendingPathComponent("system").path)
        try Data("TOP-SECRET outside the root\n".utf8).write(to: directory.appendingPathComponent("secret.txt"))
        func folder(_ number: String) throws -> URL {
            let url = root.appendingPathComponent("system/media_attachments/files/000/000/\(number)/original")
            try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
            return url
        }
        try FileManager.default.createSymbolicLink(atPath: try folder("050").appendingPathComponent("escape.jpg").path,
                                                   withDestinationPath: "../../../../../../../secret.txt")
        try FileManager.default.createSymbolicLink(atPath: try folder("051").appendingPathComponent("absolute.jpg").path,
                                                   withDestinationPath: directory.appendingPathComponent("secret.txt").path)
        try FileManager.default.createSymbolicLink(atPath: try folder("052").appendingPathComponent("alias.jpg").path,
                                                   withDestinationPath: "../../001/original/photo.jpg")
        #expect(mkfifo(try folder("053").appendingPathComponent("fifo.jpg").path, 0o644) == 0)
        try FileManager.default.createSymbolicLink(atPath: try folder("054").appendingPathComponent("dir.jpg").path,
                                                   withDestinationPath: "/etc")
        // Names nginx would read differently if herd passed them on raw:
        // a decoy whose name decodes once more to the escaping symlink's.
        let tricky = try folder("055")
        try FileManager.default.createSymbolicLink(atPath: tricky.appendingPathComponent("evil.mp4").path,
                                                   withDestinationPath: directory.appendingPathComponent("secret.txt").path)
        try Data("decoy percent\n".utf8).write(to: tricky.appendingPathComponent("%65vil.mp4"))
        try Data("decoy blank\n".utf8).write(to: tricky.appendingPathComponent("evil.mp4 "))
        // A 3 MB video-like file: what herd must not copy.
        var big = Array("\u{0}\u{0}\u{0}\u{18}ftypmp42".utf8)
        big += (0..<(3 << 20)).map { UInt8(truncatingIfNeeded: $0 &* 2_654_435_761 >> 7) }
        try Data(big).write(to: try folder("060").appendingPathComponent("big.mp4"))
        return (root, directory)
    }

    @Test("images converted from disk; originals and videos sent by nginx itself, with ranges and 304; the origin never asked")
    func servesFromDisk() throws {
        let (root, _) = try Self.makeRoot()
        let stack = try AppStack(diskRoot: root.path)
        defer { stack.stop() }
        let file = Array(try Data(contentsOf: root.appendingPathComponent(String(Self.photo.dropFirst()))))

        let avif = try stack.get(Self.photo, headers: [("Accept", ConversionTests.chrome)])
        #expect(avif.status == 200 && avif.header("Content-Type") == "image/avif")
        #expect(avif.header("ETag") != nil && avif.header("Last-Modified") != nil)

        let original = try stack.get(Self.photo, headers: [("Accept", "*/*")])
        #expect(original.status == 200)
        #expect(original.body == file, "the file itself")
        #expect(original.header("X-Herd-Source") == "disk", "sent by nginx from disk")
        #expect(original.header("Content-Type") == "image/jpeg")
        #expect(original.header("Vary") == "Accept")
        let etag = try #require(original.header("ETag"))

        let notModified = try stack.get(Self.photo, headers: [("Accept", "*/*"), ("If-None-Match", etag)])
        #expect(notModified.status == 304, "\(notModified.status)")

        let videoFile = Array(try Data(contentsOf: root.appendingPathComponent(String(Self.video.dropFirst()))))
        let whole = try stack.get(Self.video)
        #expect(whole.status == 200 && whole.body == videoFile)
        let range = try stack.get(Self.video, headers: [("Range", "bytes=10-109")])
        #expect(range.status == 206 && range.body == Array(videoFile[10...109]), "\(range.status)")
        #expect(range.header("Content-Range") == "bytes 10-109/\(videoFile.count)")

        let bigPath = "/system/media_attachments/files/000/000/060/original/big.mp4"
        let bigFile = Array(try Data(contentsOf: root.appendingPathComponent(String(bigPath.dropFirst()))))
        let before = try Self.responseBytes(stack)
        let big = try stack.get(bigPath)
        #expect(big.status == 200 && big.body == bigFile)
        let after = try Self.responseBytes(stack)
        // herd sent a head (and the metrics text): the 3 MB came from nginx's sendfile.
        #expect(after - before < 100_000, "herd sent \(after - before) body bytes for a \(bigFile.count)-byte file")

        #expect(!(try stack.originHits()).keys.contains { $0.hasPrefix("/system/") }, "the origin was asked for media")
    }

    static func responseBytes(_ stack: AppStack) throws -> Int {
        let text = try stack.get("/_herd/metrics/0").text
        let line = text.split(separator: "\n").first { $0.hasPrefix("herd_response_bytes_total ") }
        return line.flatMap { Int(Double($0.split(separator: " ").last ?? "") ?? -1) } ?? 0
    }

    @Test("nothing outside the root: symlinks out (relative, absolute, to a directory), a FIFO, traversal, the internal location; a symlink within the root is fine")
    func refusesEscapes() throws {
        let (root, _) = try Self.makeRoot()
        let stack = try AppStack(diskRoot: root.path)
        defer { stack.stop() }
        for (path, expected) in [
            ("/system/media_attachments/files/000/000/050/original/escape.jpg", 404),
            ("/system/media_attachments/files/000/000/051/original/absolute.jpg", 404),
            ("/system/media_attachments/files/000/000/053/original/fifo.jpg", 404),
            ("/system/media_attachments/files/000/000/054/original/dir.jpg/passwd", 404),
            ("/system/media_attachments/files/000/000/054/original/dir.jpg", 404),
            ("/system/media_attachments/../../../secret.txt", 400),
            ("/system/media_attachments/%2e%2e/%2e%2e/%2e%2e/secret.txt", 400),
            ("/_herd_files/system/media_attachments/files/000/000/001/original/photo.jpg", 404),
        ] {
            let started = Date()
            let response = try RawHTTP.request(port: stack.port, target: path)
            #expect(response.status == expected, "\(path): \(response.status)")
            #expect(!response.text.contains("TOP-SECRET") && !response.text.contains("root:x:"), "\(path) leaked")
            #expect(Date().timeIntervalSince(started) < 10, "\(path) hung")
        }
        // Decoded once by herd, encoded again for nginx: each name is its own file.
        let base = "/system/media_attachments/files/000/000/055/original/"
        let percent = try RawHTTP.request(port: stack.port, target: base + "%2565vil.mp4")
        #expect(percent.status == 200 && percent.text == "decoy percent\n", "\(percent.status) \(percent.text)")
        let blank = try RawHTTP.request(port: stack.port, target: base + "evil.mp4%20")
        #expect(blank.status == 200 && blank.text == "decoy blank\n", "\(blank.status) \(blank.text)")
        #expect(try RawHTTP.request(port: stack.port, target: base + "evil.mp4").status == 404)
        let inside = try stack.get("/system/media_attachments/files/000/000/052/original/alias.jpg", headers: [("Accept", "*/*")])
        #expect(inside.status == 200 && inside.header("Content-Type") == "image/jpeg")
        #expect(stack.herd.log.contains("outside_root"), "the refusal is logged with its reason")
    }

    @Test("Akkoma: the uploads directory is /media/, so its prefix comes off the path")
    func akkomaUploads() throws {
        let uploads = Paths.demoMedia + "/media"
        let stack = try AppStack(.akkoma, diskRoot: uploads)
        defer { stack.stop() }
        let original = try stack.get("/media/2f/8a/kite.jpg", headers: [("Accept", "*/*")])
        #expect(original.status == 200 && original.header("X-Herd-Source") == "disk")
        #expect(original.body == Array(try Data(contentsOf: URL(fileURLWithPath: uploads + "/2f/8a/kite.jpg"))))
        let webp = try stack.get("/media/2f/8a/kite.jpg", headers: [("Accept", "image/webp,*/*")])
        #expect(webp.status == 200 && webp.header("Content-Type") == "image/webp")
        #expect(try stack.get("/media/no/such.jpg").status == 404)
    }

    @Test("no answer nginx cannot later replace is stored: a file that appears after a 404 is served at once; an original kept for a converted variant is cached")
    func nothingStuck() throws {
        let (root, _) = try Self.makeRoot()
        let stack = try AppStack(diskRoot: root.path)
        defer { stack.stop() }
        let late = "/system/media_attachments/files/000/000/070/original/late.jpg"
        let lateFile = root.appendingPathComponent(String(late.dropFirst()))
        #expect(try stack.get(late, headers: [("Accept", "*/*")]).status == 404)
        try FileManager.default.createDirectory(at: lateFile.deletingLastPathComponent(), withIntermediateDirectories: true)
        try FileManager.default.copyItem(at: root.appendingPathComponent(String(Self.photo.dropFirst())), to: lateFile)
        let now = try stack.get(late, headers: [("Accept", "*/*")])
        #expect(now.status == 200, "the 404 was stored: \(now.status) \(now.header("X-Cache-Status") ?? "")")

        // A tiny emoji whose WebP is not smaller: the original, as a body nginx stores.
        let emoji = "/system/custom_emojis/images/000/000/001/original/blobcat.png"
        let tiny = root.appendingPathComponent("system/custom_emojis/images/000/000/002/original/dot.png")
        try FileManager.default.createDirectory(at: tiny.deletingLastPathComponent(), withIntermediateDirectories: true)
        try Data([0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52, 0, 0, 0, 1, 0, 0, 0, 1, 8, 0, 0, 0, 0,
                  0x3A, 0x7E, 0x9B, 0x55, 0, 0, 0, 10, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9C, 0x63, 0x60, 0, 0, 0, 2, 0, 1,
                  0xE5, 0x27, 0xDE, 0xFC, 0, 0, 0, 0, 0x49, 0x45, 0x4E, 0x44, 0xAE, 0x42, 0x60, 0x82]).write(to: tiny)
        let dot = "/system/custom_emojis/images/000/000/002/original/dot.png"
        _ = emoji
        let first = try stack.get(dot, headers: [("Accept", "image/webp,*/*")])
        #expect(first.status == 200)
        let second = try stack.get(dot, headers: [("Accept", "image/webp,*/*")])
        #expect(second.header("X-Cache-Status") == "HIT", "\(second.header("X-Cache-Status") ?? "none")")
    }
}
