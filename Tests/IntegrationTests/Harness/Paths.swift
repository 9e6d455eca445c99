import Foundation

/// Where the repository and the built binaries are.
enum Paths {
    static let repository: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `herd` executable `swift build` made next to the test bundle.
    static var herdBinary: String {
        if let override = ProcessInfo.processInfo.environment["HERD_BIN"] { return override }
        let products = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        for candidate in [products, products.deletingLastPathComponent()] {
            let path = candidate.appendingPathComponent("herd").path
            if FileManager.default.isExecutableFile(atPath: path) { return path }
        }
        return repository.appendingPathComponent(".build/debug/herd").path
    }

    static var originScript: String { repository.appendingPathComponent("demo/origin.py").path }
    static var demoMedia: String { repository.appendingPathComponent("demo/media").path }

    static var nginxBinary: String {
        for path in ["/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/bin/nginx"] where FileManager.default.isExecutableFile(atPath: path) {
            return path
        }
        return "nginx"
    }

    /// A fresh temporary directory.
    static func temporaryDirectory(_ name: String) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("herd-test-\(name)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }
}
