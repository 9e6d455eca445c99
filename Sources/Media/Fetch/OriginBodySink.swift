import Upstream

/// Performs what `OriginBody` decides while libcurl delivers a response:
/// streams through the one `ReplyWriter`, or keeps the held body for the
/// answer step.
final class OriginBodySink: UpstreamResponseSink {
    private var machine: OriginBody
    private let writer: ReplyWriter
    /// The head to send when the response streams through.
    private let passthroughHead: (UpstreamResponseHead) -> ReplyHead
    private var head: UpstreamResponseHead?

    /// Why the origin's answer was refused after its head.
    private(set) var refusal: UpstreamError?
    /// The transfer was stopped on purpose: its "error" is not one.
    private(set) var stoppedEarly = false

    init(rules: OriginBody.Rules, writer: ReplyWriter, passthroughHead: @escaping (UpstreamResponseHead) -> ReplyHead) {
        machine = OriginBody(rules: rules)
        self.writer = writer
        self.passthroughHead = passthroughHead
    }

    func receiveHead(_ head: UpstreamResponseHead) -> Bool {
        self.head = head
        switch machine.receiveHead(head) {
        case .refuse(let reason):
            refusal = UpstreamError(kind: .protocolError, message: reason)
            return false
        case .tooLargeToHold:
            refusal = Self.tooLarge
            return false
        case .hold, .revalidated:
            return true
        case .stream(let thenStop):
            return stream(head, buffered: [], thenStop: thenStop)
        }
    }

    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        switch machine.receiveBody(chunk) {
        case .held:
            return true
        case .stream(let buffered, let thenStop):
            guard let head else { return false }
            return stream(head, buffered: buffered, thenStop: thenStop)
        case .forward:
            return writer.forward(chunk)
        case .stop:
            stoppedEarly = true
            return false
        case .tooLargeToHold:
            refusal = Self.tooLarge
            return false
        }
    }

    /// After a transfer that ended well.
    enum Result {
        case held(SourceResponse)
        case revalidated
        case streamed
    }

    func finish() -> Result {
        switch machine.finish() {
        case .held(let body): head.map { .held(SourceResponse(head: $0, body: body)) } ?? .streamed
        case .revalidated: .revalidated
        case .streamed, .nothing: .streamed
        }
    }

    private static let tooLarge = UpstreamError(kind: .bodyTooLarge, message: "over the size that may be held in memory")

    private func stream(_ head: UpstreamResponseHead, buffered: [UInt8], thenStop: Bool) -> Bool {
        guard writer.beginStream(passthroughHead(head), buffered: buffered) else { return false }
        if thenStop {
            stoppedEarly = true
            return false
        }
        return true
    }
}
