import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A process the test started, stopped by its pid when the test ends.
final class ChildProcess: @unchecked Sendable {
    let name: String
    let process = Process()
    let logFile: URL

    init(name: String, executable: String, arguments: [String], environment: [String: String] = [:], directory: URL) throws {
        self.name = name
        logFile = directory.appendingPathComponent("\(name).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        let log = try FileHandle(forWritingTo: logFile)
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for (key, value) in environment { env[key] = value }
        process.environment = env
        process.standardOutput = log
        process.standardError = log
        process.standardInput = FileHandle.nullDevice
        try process.run()
    }

    var pid: Int32 { process.processIdentifier }
    var isRunning: Bool { process.isRunning }

    func signal(_ signal: Int32) {
        if process.isRunning { kill(pid, signal) }
    }

    /// Waits for the process to exit; returns its status or nil on timeout.
    func waitForExit(timeout: Double) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while process.isRunning {
            if Date() >= deadline { return nil }
            usleep(10_000)
        }
        return process.terminationStatus
    }

    /// SIGTERM, then SIGKILL if it does not go within two seconds.
    func stop() {
        guard process.isRunning else { return }
        signal(SIGTERM)
        if waitForExit(timeout: 2) == nil {
            signal(SIGKILL)
            _ = waitForExit(timeout: 2)
        }
    }

    var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    /// Resident memory in KiB from /proc (VmRSS, or VmHWM for the peak).
    func memoryKiB(_ field: String = "VmRSS") -> Int? {
        guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return nil }
        for line in status.split(separator: "\n") where line.hasPrefix(field + ":") {
            return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
        }
        return nil
    }
}
