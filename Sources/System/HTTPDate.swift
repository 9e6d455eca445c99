import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Dates as HTTP and logs write them, by strftime in the C locale (no
/// formatter made per request, no locale).
public enum HTTPDate {
    /// RFC 9110's IMF-fixdate, `Sun, 06 Nov 1994 08:49:37 GMT`.
    public static func imfFixdate(secondsSinceEpoch seconds: Int) -> String {
        var time = time_t(seconds)
        var parts = tm()
        gmtime_r(&time, &parts)
        var buffer = [CChar](repeating: 0, count: 64)
        let count = strftime(&buffer, buffer.count, "%a, %d %b %Y %H:%M:%S GMT", &parts)
        return String(decoding: buffer[0..<count].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// The second and its text, shared by every thread.
    private static let cachedSecond = Locked<(second: Int, text: String)>((-1, ""))

    /// Local time now as `StreamLogHandler` writes it (`%Y-%m-%dT%H:%M:%S%z`),
    /// computed once a second.
    public static func localTimestamp() -> String {
        let now = time(nil)
        if let cached = cachedSecond.withLock({ $0.second == now ? $0.text : nil }) { return cached }
        var seconds = now
        var local = tm()
        var buffer = [CChar](repeating: 0, count: 64)
        guard localtime_r(&seconds, &local) != nil else { return "<unknown>" }
        strftime(&buffer, buffer.count, "%Y-%m-%dT%H:%M:%S%z", &local)
        let text = String(cString: buffer)
        cachedSecond.withLock { $0 = (now, text) }
        return text
    }
}

/// Writes to the process's standard error, whole (one write(2) per call
/// when it fits: lines from several threads do not interleave).
public enum StandardError {
    public static func write(_ bytes: UnsafeBufferPointer<UInt8>) {
        guard var next = bytes.baseAddress else { return }
        var left = bytes.count
        while left > 0 {
            guard let written = try? retryingOnInterrupt("write", { Glibc.write(2, next, left) }), written > 0 else { return }
            next += written
            left -= written
        }
    }
}

/// What herd asks of its own process.
public enum ThisProcess {
    /// The path of this executable (/proc/self/exe resolved), or argv[0].
    public static let executablePath: String = {
        var buffer = [CChar](repeating: 0, count: 4096)
        let length = readlink("/proc/self/exe", &buffer, buffer.count - 1)
        guard length > 0 else { return CommandLine.arguments[0] }
        return String(decoding: buffer[0..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }()

    /// Whether `path` names a file this process may execute.
    public static func canExecute(_ path: String) -> Bool { access(path, X_OK) == 0 }

    /// Cores this process may use (its CPU affinity, as Foundation counts them).
    public static var coreCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }

    public static var id: Int32 { getpid() }
}
