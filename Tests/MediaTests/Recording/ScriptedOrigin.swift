import Basics
import Foundation
import Upstream

/// An origin that answers from a script, delivering through the same sink
/// calls as `UpstreamClient`: the head, then the body in pieces, then an
/// optional failure. Counts and keeps every request it is asked.
final class ScriptedOrigin: Fetching, @unchecked Sendable {
    struct Answer {
        var status = 200
        var headers: HTTPHeaders = []
        var body: [UInt8] = []
        /// Bytes per `receiveBody` call.
        var pieceSize = 4096
        /// Fails before any head (a timeout, a refused connection).
        var failBeforeHead: UpstreamError.Kind?
        /// Fails after the body (a reset mid-transfer).
        var failAfterBody: UpstreamError.Kind?
    }

    private let lock = NSLock()
    private var requests: [UpstreamRequest] = []
    private let script: (UpstreamRequest) -> Answer
    /// Set: every fetch waits here until the test signals it.
    var gate: DispatchSemaphore?

    init(_ script: @escaping (UpstreamRequest) -> Answer) {
        self.script = script
    }

    var asked: [UpstreamRequest] { lock.withLock { requests } }

    func fetch(_ request: UpstreamRequest, into sink: UpstreamResponseSink) -> UpstreamOutcome {
        lock.withLock { requests.append(request) }
        gate?.wait()
        let answer = script(request)
        func outcome(_ status: Int?, _ kind: UpstreamError.Kind?, _ bytes: Int) -> UpstreamOutcome {
            UpstreamOutcome(status: status, error: kind.map { UpstreamError(kind: $0, message: "scripted") },
                            bodyBytes: bytes, seconds: 0.001, reusedConnection: true)
        }
        if let kind = answer.failBeforeHead { return outcome(nil, kind, 0) }
        var headers = answer.headers
        if !headers.contains(where: { $0.name.caseInsensitiveEquals("Content-Length") }) {
            headers.append(("Content-Length", String(answer.body.count)))
        }
        guard sink.receiveHead(UpstreamResponseHead(status: answer.status, headers: headers)) else {
            return outcome(answer.status, .clientGone, 0)
        }
        var sent = 0
        while sent < answer.body.count {
            let end = min(sent + answer.pieceSize, answer.body.count)
            let ok = answer.body[sent..<end].withUnsafeBytes { sink.receiveBody($0) }
            sent = end
            guard ok else { return outcome(answer.status, .clientGone, sent) }
        }
        return outcome(answer.status, answer.failAfterBody, sent)
    }
}
