#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A failed system call, with the call's name and `errno`'s text.
public struct SystemError: Error, CustomStringConvertible, Sendable {
    public let call: String
    public let errnoCode: Int32
    public let detail: String?

    public init(_ call: String, errno errnoCode: Int32 = errno, detail: String? = nil) {
        self.call = call
        self.errnoCode = errnoCode
        self.detail = detail
    }

    public var description: String {
        let reason = String(cString: strerror(errnoCode))
        if let detail { return "\(call)(\(detail)): \(reason)" }
        return "\(call): \(reason)"
    }
}

/// Runs a system call, retrying on EINTR, and throws on -1: the one place
/// herd's Swift handles EINTR. Inlinable: it wraps the syscalls of every
/// request (epoll_wait, writev), and a generic call across modules would
/// otherwise go through the unspecialized generic.
@inlinable
@discardableResult
public func retryingOnInterrupt<Result: BinaryInteger>(_ call: String, detail: String? = nil,
                                                       _ body: () -> Result) throws(SystemError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        if errno == EINTR { continue }
        throw SystemError(call, detail: detail)
    }
}

/// `errno` as it is now, for code outside this module.
public var currentErrno: Int32 { errno }
