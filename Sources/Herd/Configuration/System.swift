import Foundation

enum System {
    /// Cores this process may use.
    static var coreCount: Int { max(1, ProcessInfo.processInfo.activeProcessorCount) }
}
