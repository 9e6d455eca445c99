import Foundation
import Testing
import HerdTestSupport

/// The release binary `make test` builds first.
private let releaseBinaryPath = Paths.repository.appendingPathComponent(".build/release/herd").path

/// `make deb`: the Debian package, checked with lintian and installed into
/// a scratch root, where the installed binary must run.
@Suite("Debian package", .serialized,
       .enabled(if: FileManager.default.isExecutableFile(atPath: releaseBinaryPath),
                "no release binary: `make test` builds .build/release/herd first"))
struct PackageTests {
    static var releaseBinary: String { releaseBinaryPath }

    static func run(_ executable: String, _ arguments: [String], environment: [String: String] = [:]) throws -> (status: Int32, output: String) {
        let directory = try Paths.temporaryDirectory("deb-run")
        let process = try ChildProcess(name: "run", executable: executable, arguments: arguments, environment: environment, directory: directory)
        let status = process.waitForExit(timeout: 300) ?? -1
        return (status, process.log)
    }

    static let built: Result<String, Error> = Result {
        let out = try Paths.temporaryDirectory("deb")
        let result = try run("/bin/bash", [Paths.repository.appendingPathComponent("scripts/make-deb.sh").path, out.path],
                             environment: ["HERD_BIN": releaseBinary])
        guard result.status == 0, let deb = result.output.split(separator: "\n").last(where: { $0.hasSuffix(".deb") }) else {
            throw HTTPClientError(description: "make-deb.sh failed: \(result.output)")
        }
        return String(deb)
    }

    @Test("herd_<version>_amd64.deb: lintian reports no errors")
    func lintian() throws {
        let deb = try Self.built.get()
        #expect(deb.hasSuffix("_amd64.deb") && URL(fileURLWithPath: deb).lastPathComponent.hasPrefix("herd_"))
        let result = try Self.run("/usr/bin/lintian", ["--no-tag-display-limit", deb])
        print("lintian: \(result.output)")
        #expect(!result.output.split(separator: "\n").contains { $0.hasPrefix("E:") }, "\(result.output)")
        #expect(result.status == 0, "\(result.output)")
    }

    /// Unpacked only: configuring runs the maintainer scripts, which need a
    /// running systemd (`make test-system` installs the package for real).
    @Test("unpacked into a scratch root: the files are where the README says, the binary answers --version and check-config")
    func installs() throws {
        let deb = try Self.built.get()
        let root = try Paths.temporaryDirectory("deb-root")
        for directory in ["var/lib/dpkg/updates", "var/lib/dpkg/info", "var/log"] {
            try FileManager.default.createDirectory(at: root.appendingPathComponent(directory), withIntermediateDirectories: true)
        }
        FileManager.default.createFile(atPath: root.appendingPathComponent("var/lib/dpkg/status").path, contents: nil)
        let install = try Self.run("/usr/bin/dpkg", ["--root=\(root.path)", "--force-depends", "--force-not-root",
                                                     "--log=\(root.path)/var/log/dpkg.log", "--unpack", deb])
        #expect(install.status == 0, "\(install.output)")
        for path in ["usr/bin/herd", "lib/systemd/system/herd@.service", "lib/systemd/system/herd@.socket", "lib/systemd/system/herd.target",
                     "lib/systemd/system/herd-purge.service", "lib/systemd/system/herd-purge.socket",
                     "etc/herd/config.toml", "etc/nginx/herd/http.conf", "etc/nginx/herd/mastodon.conf",
                     "etc/nginx/herd/install/image-formats.conf", "usr/share/man/man1/herd.1.gz", "usr/share/doc/herd/copyright",
                     "usr/lib/tmpfiles.d/herd.conf", "var/lib/dpkg/info/herd.postinst", "var/lib/dpkg/info/herd.prerm",
                     "var/lib/dpkg/info/herd.postrm"] {
            // Conffiles wait as FILE.dpkg-new until the package is configured.
            let unpacked = path.hasPrefix("etc/") ? path + ".dpkg-new" : path
            #expect(FileManager.default.fileExists(atPath: root.appendingPathComponent(unpacked).path), "\(unpacked)")
        }
        let unit = try String(contentsOf: root.appendingPathComponent("lib/systemd/system/herd@.service"), encoding: .utf8)
        #expect(unit.contains("ExecStart=/usr/bin/herd "))
        let herd = root.appendingPathComponent("usr/bin/herd").path
        let version = try Self.run(herd, ["--version"])
        #expect(version.status == 0 && version.output.hasPrefix("herd "), "\(version.output)")
        let check = try Self.run(herd, ["check-config", "-c", root.appendingPathComponent("etc/herd/config.toml.dpkg-new").path],
                                 environment: ["UPSTREAM_URL": "https://social.example"])
        #expect(check.status == 0, "\(check.output)")
        #expect(check.output.contains("configuration OK"), "\(check.output)")
        let status = try String(contentsOf: root.appendingPathComponent("var/lib/dpkg/status"), encoding: .utf8)
        #expect(status.contains("Package: herd") && status.contains("Status: install ok unpacked"), "\(status)")
        #expect(status.contains("Conffiles:") && status.contains("/etc/herd/config.toml"))
    }
}
