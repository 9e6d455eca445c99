import Foundation

/// Polling for what a test waits on (a socket that starts listening, a
/// worker that restarts), shared by every test target.
public enum Wait {
    /// Polls `condition` every `interval` seconds until it holds or
    /// `timeout` passes; whether it held.
    public static func until(timeout: Double, every interval: Double = 0.005, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if condition() { return true }
            Thread.sleep(forTimeInterval: interval)
        }
        return condition()
    }
}
