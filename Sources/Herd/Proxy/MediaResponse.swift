import Basics
import FastCGI
import Imaging
import Negotiation
import Upstream

/// Receives one media response from the origin.
///
/// A 200 is held back until its first bytes show what it is. An image herd
/// reads (sniffed, never taken from Content-Type) within
/// `image.max_source_bytes` is buffered whole (`heldBack`), for
/// `ImageResponder` to convert and answer; anything else (video, SVG, HTML,
/// an error page, a file too big to convert) streams to nginx as it
/// arrives, so memory stays flat.
final class MediaResponse: UpstreamResponseSink {
    enum Mode { case awaitingHead, sniffing, buffering, streaming, revalidated }

    private let exchange: FastCGIExchange
    private let context: WorkerContext
    private let includeBody: Bool
    private(set) var mode = Mode.awaitingHead
    private var head: UpstreamResponseHead?
    private var buffer: [UInt8] = []

    private(set) var sentStatus: Int?
    /// What was served: avif, webp, jpeg or orig.
    private(set) var servedVariant: String?
    /// True when we stopped the transfer on purpose (HEAD of a non-image).
    private(set) var stoppedEarly = false

    /// Bytes that tell the formats apart (ISOBMFF needs 12).
    private static let sniffLength = 16

    /// Whether herd's request carried a validator (If-None-Match,
    /// If-Modified-Since) or a Range: only then may the origin answer 304 or 206.
    private let sentConditional: Bool
    private let sentRange: Bool
    /// Why the origin's answer was refused after its head (the transfer was
    /// stopped; nothing was sent to nginx).
    private(set) var refusal: UpstreamError?

    init(exchange: FastCGIExchange, context: WorkerContext, includeBody: Bool, request: UpstreamRequest) {
        self.exchange = exchange
        self.context = context
        self.includeBody = includeBody
        sentConditional = request.headers.contains { $0.name == "If-None-Match" || $0.name == "If-Modified-Since" }
        sentRange = request.headers.contains { $0.name == "Range" }
    }

    private var configuration: HerdConfiguration { context.configuration }

    // MARK: UpstreamResponseSink

    func receiveHead(_ head: UpstreamResponseHead) -> Bool {
        self.head = head
        // A 304 or 206 answers a question herd did not ask, and 201–205 and
        // the other 2xx mean nothing for a GET of a file: passed on, nginx
        // would store a body-less or partial answer under the key of a plain
        // GET (a hostile origin's way to blank or truncate an image).
        let unasked = (head.status == 304 && !sentConditional) || (head.status == 206 && !sentRange)
            || ((200...299).contains(head.status) && ![200, 203, 206].contains(head.status))
        if unasked {
            refusal = UpstreamError(kind: .protocolError, message: "\(head.status) to a request that did not ask for one")
            return false
        }
        if head.status == 304, let cached = revalidating {
            mode = .revalidated
            revalidatedSource = cached
            return true
        }
        if head.status == 200, (head.contentLength ?? 0) <= configuration.image.maxSourceBytes {
            mode = .sniffing
            // One allocation for the whole body when its length is known.
            buffer.reserveCapacity(head.contentLength ?? 64 << 10)
            return true
        }
        return startStreaming()
    }

    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        switch mode {
        case .awaitingHead, .revalidated:
            return false
        case .streaming:
            return includeBody ? exchange.write(chunk) : stopEarly()
        case .sniffing, .buffering:
            buffer.append(contentsOf: chunk)
            if mode == .sniffing, buffer.count >= Self.sniffLength {
                if buffer.withUnsafeBytes(ImageFormat.sniff) != nil {
                    mode = .buffering
                } else {
                    return startStreaming()
                }
            }
            if buffer.count > configuration.image.maxSourceBytes {
                return startStreaming()
            }
            return true
        }
    }

    /// After a transfer that ended well: the whole response, if it was held
    /// back (an image, or a body too short to tell), for `ImageResponder`.
    /// Nil when it was streamed to the client already.
    var heldBack: SourceResponse? {
        switch mode {
        case .sniffing, .buffering: head.map { SourceResponse(head: $0, body: buffer) }
        case .revalidated: revalidatedSource
        case .awaitingHead, .streaming: nil
        }
    }

    /// Set when this fetch revalidates a cached copy: a 304 from the origin
    /// then means "serve the cached body".
    var revalidating: SourceResponse?
    private var revalidatedSource: SourceResponse?
    var wasRevalidated: Bool { mode == .revalidated }

    // MARK: Passthrough

    /// Sends the origin's head (and whatever was buffered) and streams the rest.
    private func startStreaming() -> Bool {
        guard let head else { return false }
        let wasHolding = mode == .sniffing || mode == .buffering
        mode = .streaming
        var headers = ResponseHeaders.fromOrigin(head, configuration: configuration)
        ResponseHeaders.applyPassthroughCaching(status: head.status, headers: &headers, configuration: configuration)
        if head.closeDelimited {
            // Ends when the connection closes: a cut cannot be told from the end.
            headers.removeAll { $0.name.caseInsensitiveEquals("Cache-Control") || $0.name.caseInsensitiveEquals("Expires") }
            headers.append(("Cache-Control", ResponseHeaders.errorCacheControl(ttl: configuration.cache.errorTTL)))
        }
        ResponseHeaders.addNginxLifetime(&headers, configuration: configuration)
        // 1xx, 204 and 304 have no body, whatever length the origin claims.
        if let length = head.contentLength, head.status >= 200, head.status != 204, head.status != 304 {
            headers.append(("Content-Length", String(length)))
        }
        if head.status == 200 { headers.append(("X-Herd-Variant", "orig")) }
        servedVariant = "orig"
        sentStatus = head.status
        exchange.writeHead(status: head.status, headers: headers)
        guard !exchange.peerGone else { return false }
        if wasHolding, !buffer.isEmpty {
            if !includeBody { return stopEarly() }
            let ok = exchange.write(buffer)
            buffer = []
            return ok
        }
        return includeBody || head.status != 200 ? true : stopEarly()
    }

    private func stopEarly() -> Bool {
        stoppedEarly = true
        return false
    }
}
