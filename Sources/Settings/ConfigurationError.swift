/// A configuration value that cannot be used. Printed as one line naming the
/// key, and the process exits with status 2.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable, Equatable {
    /// `section.key`, or `config` for problems with the file itself.
    public let key: String
    public let message: String
    /// Where the bad value came from: a file path, an environment variable, a flag.
    public let source: String?

    public init(key: String, message: String, source: String? = nil) {
        self.key = key
        self.message = message
        self.source = source
    }

    public var description: String {
        if let source { return "\(key): \(message) (from \(source))" }
        return "\(key): \(message)"
    }
}
