import Basics
import Logging

/// What one request did, for its log line and metrics: made once, at the
/// end, from what the `ReplyWriter` sent and what the media path traced.
struct RequestRecord {
    let method, route: String
    let status, bytesSent: Int
    let seconds: Double
    /// What the origin did, when this request fetched.
    let origin: SourceFetch.OriginTrace?
    /// What went wrong (an origin failure, a rejection).
    private(set) var detail: String?
    /// Something worth knowing that is not an error (why an image was not
    /// converted, where the source came from).
    private(set) var note: String?
    /// The variant asked for and what was served (avif, webp, jpeg, orig).
    let variant, served: String?
    let aborted: Bool

    init(method: String, route: String, variant: String?, writer: ReplyWriter, trace: MediaPath.Trace, seconds: Double) {
        self.method = method
        self.route = route
        self.variant = variant
        self.seconds = seconds
        status = writer.status ?? 502
        bytesSent = writer.bodyBytesSent
        served = writer.served
        aborted = writer.aborted
        origin = trace.origin
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
        if let status = origin?.status { metadata["origin.status"] = .stringConvertible(status) }
        if let seconds = origin?.seconds { metadata["origin.duration_ms"] = .string(Self.milliseconds(seconds)) }
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
