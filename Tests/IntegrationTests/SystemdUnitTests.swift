import Foundation
import Testing

/// deploy/systemd, checked by systemd's own tool where the machine has it.
@Suite("systemd units", .enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze")))
struct SystemdUnitTests {
    /// The units with ExecStart pointing at the built binary (verify checks it exists).
    static func renderUnits() throws -> URL {
        let directory = try Paths.temporaryDirectory("units")
        for name in ["herd@.service", "herd@.socket", "herd.target", "herd-purge.service", "herd-purge.socket"] {
            var text = try String(contentsOf: Paths.repository.appendingPathComponent("deploy/systemd/\(name)"), encoding: .utf8)
            text = text.replacingOccurrences(of: "/usr/local/bin/herd", with: Paths.herdBinary)
            try text.write(to: directory.appendingPathComponent(name), atomically: true, encoding: .utf8)
        }
        for unit in ["service", "socket"] {
            try FileManager.default.createSymbolicLink(at: directory.appendingPathComponent("herd@0.\(unit)"),
                                                       withDestinationURL: directory.appendingPathComponent("herd@.\(unit)"))
        }
        return directory
    }

    @Test("systemd-analyze verify is clean")
    func verify() throws {
        let directory = try Self.renderUnits()
        let result = try NginxConfigTests.run("/usr/bin/systemd-analyze", [
            "verify", "--man=no", directory.appendingPathComponent("herd@0.service").path,
            directory.appendingPathComponent("herd@0.socket").path, directory.appendingPathComponent("herd.target").path,
            directory.appendingPathComponent("herd-purge.service").path, directory.appendingPathComponent("herd-purge.socket").path,
        ])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, "\(result.output)")
    }

    @Test("systemd-analyze security rates the worker unit and the purge service 2.0 or lower", arguments: ["herd@.service", "herd-purge.service"])
    func security(unit: String) throws {
        let directory = try Self.renderUnits()
        let result = try NginxConfigTests.run("/usr/bin/systemd-analyze", [
            "security", "--offline=yes", directory.appendingPathComponent(unit).path,
        ])
        let line = try #require(result.output.split(separator: "\n").first { $0.contains("Overall exposure level") })
        let score = line.split(separator: ":").last?.split(separator: " ").first.flatMap { Double($0) }
        print("systemd-analyze security \(unit): \(line)")
        #expect(try #require(score) <= 2.0, "\(line)")
    }
}
