import Basics
import Settings

/// What a request is answered with, decided before anything is written.
/// `ReplyWriter` writes it; nothing else writes to nginx.
enum Reply {
    /// A whole body: a converted image, an original held in memory, a small
    /// text answer (health, metrics).
    case whole(ReplyHead, body: [UInt8])
    /// 304 to a conditional request that named one of herd's ETags.
    case notModified(ReplyHead)
    /// A file below `upstream.root` that nginx sends itself: the head with
    /// `X-Accel-Redirect` to its internal location, and no body.
    case fromDisk(ReplyHead, internalPath: String)
    /// An error answer; its status and headers come from the failure.
    case failure(any HTTPFailure)

    /// A small text answer (health, metrics), never stored.
    static func text(_ text: String, contentType: String = "text/plain; charset=utf-8", via configuration: HerdConfiguration) -> Reply {
        .whole(ReplyHead(status: 200, headers: [("Content-Type", contentType), ("Cache-Control", "no-store")]
                         + ResponseHeaders.via(configuration)),
               body: Array(text.utf8))
    }
}

/// The status line and headers of a reply, and what it served, for the log.
struct ReplyHead {
    var status: Int
    /// Without Content-Length: the writer adds it when it knows the body.
    var headers: HTTPHeaders
    /// What was served: avif, webp, jpeg or orig (nil for what is not media).
    var served: String?
    /// Why an image was not converted, or that a 304 was made (for the log).
    var note: String?

    init(status: Int, headers: HTTPHeaders, served: String? = nil, note: String? = nil) {
        self.status = status
        self.headers = headers
        self.served = served
        self.note = note
    }
}
