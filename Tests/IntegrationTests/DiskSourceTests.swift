import Foundation
import Testing
#if canImport(Glibc)
import Glibc
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
}
