import Basics
import FastCGI
import Upstream
import Settings

/// The one writer of every answer herd sends: a `Reply` written whole, or
/// an origin response streamed through (`beginStream`, `forward`). It
/// remembers what it sent, and the request's log line and metrics are made
/// from that (`RequestRecord`), so no step reports a status of its own.
final class ReplyWriter {
    private let output: any ResponseWriter
    private let configuration: HerdConfiguration
    /// A HEAD: GET's headers, no body, and never storable by nginx.
    private let isHead: Bool
    /// On a media route every answer carries `Vary: Accept` and the media
    /// host's protective headers, errors included.
    var onMediaRoute = false

    /// What went out: the status (499 when the client left first), what
    /// was served, the failure that made an error answer.
    private(set) var status: Int?
    private(set) var served: String?
    private(set) var note: String?
    private(set) var failure: (any HTTPFailure)?
    /// The response was cut short on purpose (a failure after its head).
    private(set) var aborted = false

    init(output: any ResponseWriter, configuration: HerdConfiguration, isHead: Bool) {
        self.output = output
        self.configuration = configuration
        self.isHead = isHead
    }

    var headSent: Bool { output.headSent }
    var bodyBytesSent: Int { output.bodyBytesWritten }

    // MARK: Whole replies

    func send(_ reply: Reply) {
        switch reply {
        case .whole(var head, let body):
            head.headers.append(("Content-Length", String(body.count)))
            writeHead(head)
            if !isHead { _ = body.withUnsafeBytes { output.write($0) } }
        case .notModified(let head):
            writeHead(head)
        case .fromDisk(var head, let internalPath):
            head.headers.append(("X-Accel-Redirect", internalPath))
            writeHead(head)
        case .failure(let failure):
            fail(failure)
        }
    }

    /// A failure: its error answer when nothing was sent yet; after the
    /// head it is too late for a status, so the response is cut short and
    /// nginx neither completes nor stores it.
    func fail(_ failure: any HTTPFailure) {
        self.failure = failure
        let clientGone = output.peerGone || (failure as? UpstreamError)?.kind == .clientGone
        if output.headSent || clientGone {
            // Nobody to tell, or too late for a status.
            if clientGone { status = 499 }
            aborted = true
            output.abort()
            return
        }
        let body = Array("\(failure.status) \(HTTPStatus.reasonPhrase(failure.status))\n".utf8)
        var head = ReplyHead(status: failure.status, headers: ResponseHeaders.failure(
            failure, configuration: configuration, onMediaRoute: onMediaRoute))
        head.headers.append(("Content-Length", String(body.count)))
        writeHead(head)
        if !isHead { _ = body.withUnsafeBytes { output.write($0) } }
    }

    // MARK: Streaming

    /// Starts streaming an origin response: its head and what was read
    /// before deciding to stream. False once the client is gone.
    func beginStream(_ head: ReplyHead, buffered: [UInt8]) -> Bool {
        writeHead(head)
        guard !output.peerGone else { return false }
        if isHead || buffered.isEmpty { return true }
        return buffered.withUnsafeBytes { output.write($0) }
    }

    /// One more piece of a streamed body.
    func forward(_ chunk: UnsafeRawBufferPointer) -> Bool {
        output.write(chunk)
    }

    // MARK: -

    private func writeHead(_ head: ReplyHead) {
        var headers = head.headers
        ResponseHeaders.addNginxLifetime(&headers, configuration: configuration)
        if isHead {
            // nginx's fastcgi_cache stores whatever answers a miss under a
            // key GETs share, and unlike proxy_cache it does not turn a HEAD
            // into a GET: a body-less answer must never be storable, whatever
            // nginx configuration sent it. (Hidden from clients by nginx.)
            headers.removeAll { $0.name.caseInsensitiveEquals("X-Accel-Expires") }
            headers.append(("X-Accel-Expires", "0"))
        }
        status = head.status
        served = head.served
        note = head.note
        output.writeHead(status: head.status, headers: headers)
    }
}
