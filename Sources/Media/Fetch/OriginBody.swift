import Imaging
import Upstream

/// What to do with an origin response as it arrives, as a pure state
/// machine: events in (the head, each piece of body, the end), actions out.
/// No I/O: `OriginBodySink` performs the actions.
///
/// A 200 is held back until its first bytes show what it is. An image herd
/// reads (sniffed, never taken from Content-Type) within `maxHeldBytes` is
/// held whole, to be answered from memory (converted, shared with waiters,
/// kept in the source cache); anything else (a video, an SVG, an error page,
/// a file too big to convert) streams to the client as it arrives, so
/// memory stays flat.
struct OriginBody {
    enum State: Equatable {
        case awaitingHead
        /// A 200 whose first bytes have not yet shown what it is.
        case sniffing
        /// An image, held whole.
        case holding
        case streaming
        /// The origin confirmed the copy herd revalidated (304).
        case revalidated
        /// The transfer was stopped on purpose (a HEAD needs no body).
        case stopped
    }

    struct Rules {
        /// `image.max_source_bytes`: larger bodies stream.
        var maxHeldBytes: Int
        /// Whether herd's request carried a validator or a Range: only then
        /// may the origin answer 304 or 206.
        var sentConditional: Bool
        var sentRange: Bool
        /// The Range herd sent, to check a 206 against (`PartialContent`).
        var range: String? = nil
        /// Whether this fetch revalidates a cached copy (a 304 then means
        /// "serve the cached body").
        var revalidating: Bool
        /// False for a HEAD: a streamed answer stops after its head.
        var includeBody: Bool
        /// Hold a 200 whatever it is (a preview needs the whole video too);
        /// one over `maxHeldBytes` is refused instead of streamed.
        var holdsEverything = false
        /// With `holdsEverything`: audio and video (by their Content-Type)
        /// stream as they come anyway (Misskey's proxy without a transform:
        /// a remote video may be far larger than any image).
        var streamsAudioVideo = false
    }

    enum HeadAction: Equatable {
        /// The response answers a question herd did not ask: stop, answer 502.
        case refuse(reason: String)
        /// Larger than `maxHeldBytes` where it must be held: stop.
        case tooLargeToHold
        /// Keep reading into memory.
        case hold
        /// The cached copy is still good; nothing more to read.
        case revalidated
        /// Send the head on and stream the body; stop after the head when
        /// `thenStop` (a HEAD).
        case stream(thenStop: Bool)
    }

    enum BodyAction: Equatable {
        /// Kept in memory.
        case held
        /// It is not an image (or too large): send the head, then `buffered`
        /// (everything held so far, this piece included), and stream the
        /// rest; stop after the head when `thenStop`.
        case stream(buffered: [UInt8], thenStop: Bool)
        /// Pass this piece on.
        case forward
        /// Stop the transfer: nothing more is needed.
        case stop
        /// Larger than `maxHeldBytes` where it must be held: stop.
        case tooLargeToHold
    }

    /// What the transfer left once it ended well.
    enum Result: Equatable {
        /// The whole body, held: answer from it.
        case held([UInt8])
        /// The origin confirmed the revalidated copy.
        case revalidated
        /// Sent to the client as it arrived.
        case streamed
        /// Nothing to answer from (no head arrived).
        case nothing
    }

    /// Bytes that tell the formats apart: decided on the first chunks only
    /// once this many arrived (or the body ended), whatever sizes a
    /// hostile sender writes.
    static let sniffLength = ImageFormat.sniffLength

    let rules: Rules
    private(set) var state = State.awaitingHead
    private var buffer: [UInt8] = []

    init(rules: Rules) {
        self.rules = rules
    }

    mutating func receiveHead(_ head: UpstreamResponseHead) -> HeadAction {
        guard state == .awaitingHead else { return .refuse(reason: "a second response head") }
        // A 304 or 206 answers a question herd did not ask, and 201–205 and
        // the other 2xx mean nothing for a GET of a file: passed on, nginx
        // would store a body-less or partial answer under the key of a plain
        // GET (a hostile origin's way to blank or truncate an image).
        let status = head.status
        if (status == 304 && !rules.sentConditional) || (status == 206 && !rules.sentRange)
            || ((200...299).contains(status) && ![200, 203, 206].contains(status)) {
            state = .stopped
            return .refuse(reason: "\(status) to a request that did not ask for one")
        }
        if status == 206, let range = rules.range,
           !PartialContent.answers(range: range, contentRange: head.value(of: "Content-Range"),
                                   contentLength: head.contentLength, contentType: head.value(of: "Content-Type")) {
            state = .stopped
            return .refuse(reason: "a 206 that is not the range asked for")
        }
        if status == 304, rules.revalidating {
            state = .revalidated
            return .revalidated
        }
        // A 203 (a transforming proxy's 200) is held like a 200 where
        // everything is held: streamed, it would skip what is made of it.
        let holdable = status == 200 || (status == 203 && rules.holdsEverything)
        if holdable, rules.streamsAudioVideo,
           let type = head.value(of: "Content-Type")?.lowercased(), type.hasPrefix("audio/") || type.hasPrefix("video/") {
            return .stream(thenStop: startStreaming())
        }
        if holdable, rules.holdsEverything, (head.contentLength ?? 0) > rules.maxHeldBytes {
            state = .stopped
            return .tooLargeToHold
        }
        if holdable, (head.contentLength ?? 0) <= rules.maxHeldBytes {
            state = .sniffing
            // One allocation for the whole body when its length is known.
            buffer.reserveCapacity(head.contentLength ?? 64 << 10)
            return .hold
        }
        return .stream(thenStop: startStreaming())
    }

    mutating func receiveBody(_ chunk: UnsafeRawBufferPointer) -> BodyAction {
        switch state {
        case .awaitingHead, .revalidated, .stopped:
            return .stop
        case .streaming:
            return .forward
        case .sniffing, .holding:
            buffer.append(contentsOf: chunk)
            if state == .sniffing, buffer.count >= Self.sniffLength {
                guard rules.holdsEverything || buffer.withUnsafeBytes(ImageFormat.sniff) != nil else { return streamHeld() }
                state = .holding
            }
            if buffer.count > rules.maxHeldBytes {
                guard !rules.holdsEverything else {
                    buffer = []
                    state = .stopped
                    return .tooLargeToHold
                }
                return streamHeld()
            }
            return .held
        }
    }

    /// The transfer ended without an error.
    mutating func finish() -> Result {
        switch state {
        case .sniffing, .holding:
            let body = buffer
            buffer = []
            state = .stopped
            return .held(body)
        case .revalidated: return .revalidated
        case .streaming, .stopped: return .streamed
        case .awaitingHead: return .nothing
        }
    }

    private mutating func streamHeld() -> BodyAction {
        let held = buffer
        buffer = []
        return .stream(buffered: held, thenStop: startStreaming())
    }

    /// Returns whether to stop after the head.
    private mutating func startStreaming() -> Bool {
        state = rules.includeBody ? .streaming : .stopped
        return !rules.includeBody
    }
}
