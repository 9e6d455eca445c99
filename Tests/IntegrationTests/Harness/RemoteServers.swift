import Foundation
import Remote
import HerdTestSupport

/// The shipped Akkoma configuration with herd as the media proxy, and two
/// "remote" servers on other loopback addresses, let in by
/// `remote.allow_networks`: plain HTTP on 127.0.0.2, HTTPS on 127.0.0.3
/// with a certificate from a CA made for the test (`remote.ca_file`).
/// Both are the stand-in origin (demo/origin.py with its misbehaviour
/// hooks), serving files made here with ffmpeg under /media/.
final class RemoteServers: @unchecked Sendable {
    static let secret = "integration-secret-key-base"
    static let camoKey = "integration-camo-key"

    let app: AppStack
    let plain: ChildProcess
    let plainPort: UInt16
    let tls: ChildProcess
    let tlsPort: UInt16
    let directory: URL

    /// `flavor`: the app in front (Akkoma's configuration with herd as its
    /// signed media proxy, or Misskey's with herd as its external one).
    init(_ flavor: AppStack.Flavor = .akkoma, herdArguments: [String] = []) throws {
        directory = try Paths.temporaryDirectory("remotes")
        let root = directory.appendingPathComponent("root")
        try FileManager.default.createDirectory(at: root.appendingPathComponent("media"), withIntermediateDirectories: true)
        try Self.makeFiles(in: root.appendingPathComponent("media"), certificates: directory)
        (plain, plainPort) = try Stack.startOrigin(root: root.path, directory: directory, name: "remote-2",
                                                   extraArguments: ["--host", "127.0.0.2"])
        do {
            (tls, tlsPort) = try Stack.startOrigin(root: root.path, directory: directory, name: "remote-3", extraArguments: [
                "--host", "127.0.0.3", "--tls-cert", directory.appendingPathComponent("server.pem").path,
                "--tls-key", directory.appendingPathComponent("server.key").path])
        } catch {
            plain.stop()
            throw error
        }
        do {
            app = try AppStack(flavor, herdArguments: [
                "--set", "media_proxy.secret_key_base=\(Self.secret)",
                "--set", "camo.key=\(Self.camoKey)",
                "--set", "remote.allow_networks=127.0.0.2/32, 127.0.0.3/32",
                "--set", "remote.ca_file=\(directory.appendingPathComponent("ca.pem").path)",
            ] + herdArguments)
        } catch {
            plain.stop()
            tls.stop()
            throw error
        }
    }

    func stop() {
        app.stop()
        plain.stop()
        tls.stop()
    }

    var plainBase: String { "http://127.0.0.2:\(plainPort)" }
    var tlsBase: String { "https://127.0.0.3:\(tlsPort)" }

    static func signed(_ url: String, preview: Bool = false, filename: String? = nil) -> String {
        SignedProxyURL.sign(url, secret: Array(secret.utf8), kind: preview ? .preview : .original, filename: filename)
    }

    /// Requests the plain remote saw, by path and query.
    func plainHits() throws -> [String: Int] {
        let response = try RawHTTP.request(port: plainPort, target: "/__stats", address: "127.0.0.2")
        let json = try JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any]
        return json?["hits"] as? [String: Int] ?? [:]
    }

    /// A 2000×1500 photo-like JPEG, an animated GIF (WebP, APNG), a short MP4 (all over
    /// the 100 KiB preview floor), a small PNG, an HTML page; a CA and a
    /// certificate for 127.0.0.3 signed by it.
    private static func makeFiles(in media: URL, certificates: URL) throws {
        let script = """
        set -e
        cd '\(media.path)'
        ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=2000x1500 -frames:v 1 -q:v 2 big.jpg
        ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=480x360:d=2:r=10 anim.gif
        ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=480x360:d=1:r=10 -c:v libwebp -loop 0 anim.webp
        ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=480x360:d=1:r=10 -plays 0 -f apng anim.png
        ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=640x360:d=3:r=10 -q:v 3 clip.mp4
        ffmpeg -nostdin -hide_banner -loglevel error -y -f lavfi -i testsrc2=s=64x48 -frames:v 1 small.png
        printf '<html><body><script>document.title="pwned"</script></body></html>' > page.html
        printf '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;"><!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]><svg xmlns="http://www.w3.org/2000/svg" width="100" height="100"><text>&lol3;</text></svg>' > laughs.svg
        printf '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100"><image xlink:href="http://127.0.0.1:9/track.png" width="100" height="100"/></svg>' > external.svg
        cd '\(certificates.path)'
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout ca.key -out ca.pem -days 2 \\
          -subj '/CN=Herd Test CA' 2>/dev/null
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout server.key -out server.csr \\
          -subj '/CN=127.0.0.3' 2>/dev/null
        printf 'subjectAltName=IP:127.0.0.3\\nbasicConstraints=CA:FALSE\\n' > server.ext
        openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \\
          -extfile server.ext 2>/dev/null
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        process.arguments = ["-c", script]
        try process.run()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw HTTPClientError(description: "making the remote's files failed (ffmpeg and openssl: scripts/install-deps.sh)")
        }
    }
}
