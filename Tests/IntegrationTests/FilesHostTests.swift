import Foundation
import Testing
import HerdTestSupport

/// Mastodon with object storage: the files host (sites/mastodon-files.conf's
/// server/mastodon/files.conf) in front of a bucket (demo/origin.py --bucket:
/// no /system prefix, S3/GCS/RGW headers on every answer).
@Suite("Object storage files host")
struct FilesHostTests {
    @Test("the bucket's layout through nginx → herd: images converted, video streamed with ranges, storage headers never reach the client, the rest 404")
    func filesHost() throws {
        let directory = try Paths.temporaryDirectory("files")
        // The bucket: Mastodon's paths without /system.
        let bucket = directory.appendingPathComponent("bucket")
        try FileManager.default.copyItem(atPath: Paths.demoMedia + "/system", toPath: bucket.path)
        let (origin, originPort) = try Stack.startOrigin(root: bucket.path, directory: directory, extraArguments: ["--bucket"])
        defer { origin.stop() }
        let socket = directory.appendingPathComponent("herd.sock").path
        let herd = try Stack.startHerd(arguments: ["--upstream", "http://127.0.0.1:\(originPort)", "--bind", socket,
                                                   "--set", "server.socket_mode=0666", "--set", "routes.mastodon_prefix="],
                                       socket: socket, directory: directory)
        defer { herd.stop() }
        try NginxConfig.render(into: directory, herdSockets: [socket], appPort: originPort)
        let port = RawHTTP.freePort()
        let preamble = NginxConfig.preamble(directory: directory)
        try """
        \(preamble.main)
        http {
        \(preamble.http)
            include herd/http.conf;
            include herd/upstreams/mastodon.conf;
        \(preamble.accessLog)
            server {
                listen 127.0.0.1:\(port);
                server_name files.example.social;
                include herd/server/defaults.conf;
                include herd/server/errors.conf;
                include herd/server/status.conf;
                include herd/server/mastodon/files.conf;
                location / { return 404; }
            }
        }
        """.write(to: directory.appendingPathComponent("nginx.conf"), atomically: true, encoding: .utf8)
        let nginx = try NginxConfig.start(directory: directory, port: port)
        defer { nginx.stop() }

        func storageHeaders(_ response: HTTPResponse) -> [String] {
            response.headers.map(\.name).filter { name in
                let lower = name.lowercased()
                return ["x-amz", "x-goog", "x-guploader", "x-rgw", "x-ms-"].contains { lower.hasPrefix($0) }
            } + (response.header("Server").map { $0.contains("Amazon") ? ["Server: \($0)"] : [] } ?? [])
        }

        let photo = "/media_attachments/files/000/000/001/original/photo.jpg"
        let avif = try RawHTTP.request(port: port, target: photo, headers: [("Accept", ConversionTests.chrome)])
        #expect(avif.status == 200)
        #expect(avif.header("Content-Type") == "image/avif")
        #expect(avif.header("Access-Control-Allow-Origin") == "*")
        #expect(storageHeaders(avif).isEmpty, "\(storageHeaders(avif))")
        let original = try RawHTTP.request(port: port, target: photo)
        #expect(original.status == 200 && original.header("Content-Type") == "image/jpeg")
        #expect(storageHeaders(original).isEmpty, "\(storageHeaders(original))")
        #expect(try RawHTTP.request(port: port, target: photo, headers: [("Accept", ConversionTests.chrome)])
            .header("X-Cache-Status") == "HIT")

        // 48 hours, as the template says (its $herd_media_ttl, carried by herd's Cache-Control).
        #expect(original.header("Cache-Control")?.hasPrefix("public, max-age=172800") == true, "\(original.header("Cache-Control") ?? "none")")
        // A redirect (to a presigned URL) is never kept, by nginx or browsers.
        let redirect = "/media_attachments/files/000/000/009/original/private.jpg?status=302&location=https://bucket.example/x?X-Amz-Expires=60"
        for _ in 0..<2 {
            let answer = try RawHTTP.request(port: port, target: redirect)
            #expect(answer.status == 302 && answer.header("Cache-Control") == "no-store" && answer.header("X-Cache-Status") != "HIT",
                    "\(answer.status) \(answer.header("Cache-Control") ?? "none") \(answer.header("X-Cache-Status") ?? "")")
        }

        let video = "/media_attachments/files/000/000/002/original/clip.mp4"
        let range = try RawHTTP.request(port: port, target: video, headers: [("Range", "bytes=0-99")])
        #expect(range.status == 206 && range.body.count == 100, "\(range.status) \(range.body.count)")
        #expect(storageHeaders(range).isEmpty, "\(storageHeaders(range))")

        let avatar = try RawHTTP.request(port: port, target: "/accounts/avatars/000/000/001/original/avatar.jpg",
                                         headers: [("Accept", "image/webp,*/*")])
        #expect(avatar.status == 200 && avatar.header("Content-Type") == "image/webp")
        for path in ["/", "/about", "/system/media_attachments/files/000/000/001/original/photo.jpg", "/api/v1/instance"] {
            #expect(try RawHTTP.request(port: port, target: path).status == 404, "\(path)")
        }
        // The origin was asked for the bucket's paths, without /system.
        let hits = try JSONSerialization.jsonObject(with: Data(try RawHTTP.request(port: originPort, target: "/__stats").body))
            as? [String: Any]
        let paths = (hits?["hits"] as? [String: Int])?.keys.sorted() ?? []
        #expect(paths.contains(photo), "\(paths)")
        #expect(!paths.contains { $0.hasPrefix("/system/") }, "\(paths)")
    }
}
