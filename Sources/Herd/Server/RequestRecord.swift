import Basics
import Logging

/// What one request did, for its log line and metrics: made once, at the
/// end, from what the `ReplyWriter` sent and what the media path traced.
struct RequestRecord {
    var method: String
    var route: String
    var status: Int
    var seconds: Double
    var bytesSent: Int
    var originStatus: Int?
    var originSeconds: Double?
    /// What went wrong (an origin failure, a rejection).
    var detail: String?
    /// Something worth knowing that is not an error (why an image was not
    /// converted, where the source came from).
    var note: String?
    /// The variant asked for and what was served (avif, webp, jpeg, orig).
    var variant: String?
    var served: String?
    var aborted: Bool

    init(method: String, route: String, variant: String?, writer: ReplyWriter, trace: MediaPath.Trace, seconds: Double) {
        self.method = method
        self.route = route
        self.variant = variant
        self.seconds = seconds
        status = writer.status ?? 502
        bytesSent = writer.bodyBytesSent
        served = writer.served
        aborted = writer.aborted
        originStatus = trace.origin?.status
        originSeconds = trace.origin?.seconds
        if let failure = writer.failure {
            detail = failure.detail == failure.reason ? failure.reason : "\(failure.reason): \(failure.detail)"
        }
        switch trace.provenance {
        case .sourceCache?, .coalesced?: note = trace.provenance?.rawValue
        case .origin?, nil: note = nil
        }
        if let written = writer.note { note = written }
    }

    func log(to logger: Logger, uri: String) {
        var metadata: Logger.Metadata = [
            "http.method": .string(method),
            "http.path": .string(String(uri.prefix(512))),
            "http.status": .stringConvertible(status),
            "herd.route": .string(route),
            "duration_ms": .string(Self.milliseconds(seconds)),
            "bytes": .stringConvertible(bytesSent),
        ]
        if let originStatus { metadata["origin.status"] = .stringConvertible(originStatus) }
        if let originSeconds { metadata["origin.duration_ms"] = .string(Self.milliseconds(originSeconds)) }
        if let variant { metadata["herd.variant"] = .string(variant) }
        if let served { metadata["herd.served"] = .string(served) }
        if let detail { metadata["error"] = .string(detail) }
        if let note { metadata["note"] = .string(note) }
        if aborted { metadata["aborted"] = "true" }
        let level: Logger.Level = status >= 500 ? .warning : .info
        logger.log(level: level, "request", metadata: metadata)
    }

    /// Milliseconds with one decimal, without Foundation's formatter.
    static func milliseconds(_ seconds: Double) -> String {
        let tenths = Int((seconds * 10_000).rounded())
        return "\(tenths / 10).\(tenths % 10)"
    }
}
