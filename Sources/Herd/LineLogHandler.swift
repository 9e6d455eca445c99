import Basics
import Logging
import System
import Media

/// herd's log lines on standard error (systemd sends them to the journal),
/// in swift-log's `StreamLogHandler` format:
/// `TIMESTAMP LEVEL LABEL: key=value … [SOURCE] MESSAGE`, keys sorted.
///
/// Its own because a line is written for every request: one write(2) per
/// line with no stdio lock or flush, metadata merged without a dictionary
/// copy, and the timestamp formatted once a second. (`StreamLogHandler`
/// took 5% of herd's CPU in bench-passthrough.)
public struct LineLogHandler: LogHandler {
    let label: String
    public var logLevel: Logger.Level
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?

    public init(label: String, level: Logger.Level) {
        self.label = label
        self.logLevel = level
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var pairs: [(key: String, value: Logger.MetadataValue)] = []
        let provided = metadataProvider?.get() ?? [:]
        let explicit = event.metadata ?? [:]
        pairs.reserveCapacity(metadata.count + provided.count + explicit.count + 2)
        for (key, value) in metadata where provided[key] == nil && explicit[key] == nil { pairs.append((key, value)) }
        for (key, value) in provided where explicit[key] == nil { pairs.append((key, value)) }
        for (key, value) in explicit { pairs.append((key, value)) }
        if let error = event.error {
            pairs.append(("error.message", "\(error)"))
            pairs.append(("error.type", "\(String(reflecting: type(of: error)))"))
        }
        pairs.sort { $0.key < $1.key }

        var line = HTTPDate.localTimestamp()
        line.reserveCapacity(256)
        line += " "
        line += event.level.rawValue
        if !label.isEmpty {
            line += " "
            line += label
        }
        line += ":"
        for (key, value) in pairs {
            line += " "
            line += key
            line += "="
            line += value.description
        }
        line += " ["
        line += event.source
        line += "] "
        line += event.message.description
        line += "\n"
        line.withUTF8 { StandardError.write($0) }
    }

}
