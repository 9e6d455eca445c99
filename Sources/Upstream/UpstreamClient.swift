import Basics
import CCurl
import System
#if canImport(Glibc)
import Glibc
#endif

/// Fetches from the origin with one libcurl easy handle.
///
/// Not `Sendable`: each accept thread owns one client, and the handle keeps
/// that thread's connections to the origin alive between requests (libcurl's
/// per-handle connection cache), so there is no lock on the request path.
public final class UpstreamClient: Fetching {
    public struct Configuration: Sendable {
        /// Longest wait to establish a TCP (and TLS) connection.
        public var connectTimeoutMilliseconds: Int
        /// Longest the origin may stay silent: before the response starts
        /// and at any point while the body streams.
        public var idleTimeoutSeconds: Int
        /// Upper bound on the whole transfer; 0 = none.
        public var transferTimeoutSeconds: Int
        /// Slower than this (bytes/s) for `idleTimeoutSeconds` → abandoned.
        public var minSpeedBytesPerSecond: Int
        /// Largest body accepted; a larger one aborts the transfer.
        public var maxBodyBytes: Int
        /// Largest response head accepted.
        public var maxHeaderBytes: Int
        public var userAgent: String
        /// A CA bundle to trust instead of the system's (optional).
        public var caFile: String?
        /// Judges every address before a connection is opened to it (remote
        /// URLs, issue 10); nil trusts every address (the configured origin).
        public var admitAddress: (@Sendable (ConnectAddress) -> Bool)?

        /// Every value comes from the worker's configuration
        /// (`HerdConfiguration.Upstream`), where the defaults are written.
        public init(
            connectTimeoutMilliseconds: Int,
            idleTimeoutSeconds: Int,
            transferTimeoutSeconds: Int,
            minSpeedBytesPerSecond: Int,
            maxBodyBytes: Int,
            maxHeaderBytes: Int = 64 << 10,
            userAgent: String,
            caFile: String?,
            admitAddress: (@Sendable (ConnectAddress) -> Bool)? = nil
        ) {
            self.connectTimeoutMilliseconds = connectTimeoutMilliseconds
            self.idleTimeoutSeconds = idleTimeoutSeconds
            self.transferTimeoutSeconds = transferTimeoutSeconds
            self.minSpeedBytesPerSecond = max(1, minSpeedBytesPerSecond)
            self.maxBodyBytes = maxBodyBytes
            self.maxHeaderBytes = maxHeaderBytes
            self.userAgent = userAgent
            self.caFile = caFile
            self.admitAddress = admitAddress
        }
    }

    /// Must run once, before any thread makes a client.
    public static func globalInit() {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT))
    }

    private let handle: UnsafeMutableRawPointer
    private let configuration: Configuration
    /// Every socket the handle keeps open; outlives the handle (declared
    /// after it, and `deinit` cleans the handle up first).
    private let connections = OriginConnections()

    public init(configuration: Configuration) throws(UpstreamError) {
        guard let handle = curl_easy_init() else {
            throw UpstreamError(kind: .other, message: "curl_easy_init failed")
        }
        self.handle = handle
        self.configuration = configuration
    }

    deinit {
        curl_easy_cleanup(handle)
    }

    /// Runs one request, streaming the response into `sink`. Blocks the
    /// calling thread until the transfer ends.
    public func fetch(_ request: UpstreamRequest, into sink: UpstreamResponseSink) -> UpstreamOutcome {
        let transfer = Transfer(sink: sink, maxBodyBytes: configuration.maxBodyBytes, maxHeaderBytes: configuration.maxHeaderBytes,
                                idleTimeout: Double(max(1, configuration.idleTimeoutSeconds)))
        let started = MonotonicClock.now()

        var headerList: UnsafeMutablePointer<curl_slist>? = nil
        // Suppress the headers curl would add on its own: herd decides what
        // the origin sees.
        for line in ["Accept:", "Expect:"] { headerList = curl_slist_append(headerList, line) }
        for (name, value) in request.headers { headerList = curl_slist_append(headerList, "\(name): \(value)") }
        defer { curl_slist_free_all(headerList) }

        // Options are set again for every request: curl_easy_reset keeps the
        // connection cache, DNS cache and TLS session cache, so nothing of
        // the previous request can leak into this one.
        curl_easy_reset(handle)
        setCommonOptions()
        connections.install(on: handle)
        connections.admit = configuration.admitAddress
        connections.startTransfer()
        connections.discardTainted()
        _ = herd_curl_setopt_string(handle, CURLOPT_URL, request.url)
        _ = herd_curl_setopt_long(handle, CURLOPT_HTTPGET, 1)
        if request.method != "GET" { _ = herd_curl_setopt_string(handle, CURLOPT_CUSTOMREQUEST, request.method) }
        _ = herd_curl_setopt_slist(handle, CURLOPT_HTTPHEADER, headerList)

        let context = Unmanaged.passUnretained(transfer).toOpaque()
        _ = herd_curl_setopt_header_function(handle, { buffer, size, count, context in
            Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue().header(UnsafeRawBufferPointer(start: buffer, count: size * count))
        })
        _ = herd_curl_setopt_pointer(handle, CURLOPT_HEADERDATA, context)
        _ = herd_curl_setopt_write_function(handle, { buffer, size, count, context in
            Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue().body(UnsafeRawBufferPointer(start: buffer, count: size * count))
        })
        _ = herd_curl_setopt_pointer(handle, CURLOPT_WRITEDATA, context)
        _ = herd_curl_setopt_xferinfo_function(handle, { context, _, received, _, _ in
            Unmanaged<Transfer>.fromOpaque(context!).takeUnretainedValue().progress(received: received)
        })
        _ = herd_curl_setopt_pointer(handle, CURLOPT_XFERINFODATA, context)
        _ = herd_curl_setopt_long(handle, CURLOPT_NOPROGRESS, 0)

        let code = withExtendedLifetime(transfer) { curl_easy_perform(handle) }

        // A bodiless response (204, 304) never calls the write function, and
        // its head is delivered from the header callback; nothing more to do.
        var reused: Int = 0
        _ = herd_curl_getinfo_long(handle, CURLINFO_NUM_CONNECTS, &reused)
        var error: UpstreamError? = nil
        if code != CURLE_OK, let refused = connections.refused {
            error = UpstreamError(kind: .refusedAddress, message: "no connection to \(refused): the address guard refuses it")
        } else if code != CURLE_OK {
            error = transfer.abortReason ?? Self.classify(code, message: String(cString: curl_easy_strerror(code)))
        }
        return UpstreamOutcome(
            status: transfer.status,
            error: error,
            bodyBytes: transfer.bodyBytes,
            seconds: MonotonicClock.now() - started,
            reusedConnection: reused == 0,
            refusedAddress: code != CURLE_OK ? connections.refused : nil
        )
    }

    private func setCommonOptions() {
        // Signals would interrupt other threads; timeouts use timers instead.
        _ = herd_curl_setopt_long(handle, CURLOPT_NOSIGNAL, 1)
        _ = herd_curl_setopt_string(handle, CURLOPT_PROTOCOLS_STR, "http,https")
        // The origin's redirects go to the client as they are.
        _ = herd_curl_setopt_long(handle, CURLOPT_FOLLOWLOCATION, 0)
        _ = herd_curl_setopt_long(handle, CURLOPT_SSL_VERIFYPEER, 1)
        _ = herd_curl_setopt_long(handle, CURLOPT_SSL_VERIFYHOST, 2)
        if let caFile = configuration.caFile { _ = herd_curl_setopt_string(handle, CURLOPT_CAINFO, caFile) }
        if configuration.admitAddress != nil {
            // A guarded client connects to the remote itself, never through a
            // proxy named in the environment (http_proxy, https_proxy): the
            // guard judges the address of the server, not of a proxy.
            _ = herd_curl_setopt_string(handle, CURLOPT_PROXY, "")
        }
        _ = herd_curl_setopt_long(handle, CURLOPT_CONNECTTIMEOUT_MS, configuration.connectTimeoutMilliseconds)
        // "Below min_speed for N seconds": until the first byte the speed is
        // 0 and libcurl arms a timer for exactly N seconds, so a slow origin
        // gets its 504 on time; a body drip-fed below min_speed is abandoned
        // after N seconds instead of holding a thread until the transfer
        // timeout. A full stall after data has flowed is caught by the
        // progress callback too (libcurl averages speed over 5 s).
        _ = herd_curl_setopt_long(handle, CURLOPT_LOW_SPEED_LIMIT, configuration.minSpeedBytesPerSecond)
        _ = herd_curl_setopt_long(handle, CURLOPT_LOW_SPEED_TIME, max(1, configuration.idleTimeoutSeconds))
        _ = herd_curl_setopt_long(handle, CURLOPT_TIMEOUT, configuration.transferTimeoutSeconds)
        // Refuses bodies whose Content-Length is over the cap before any byte
        // is read; the write callback enforces the cap for the rest.
        _ = herd_curl_setopt_off(handle, CURLOPT_MAXFILESIZE_LARGE, curl_off_t(configuration.maxBodyBytes))
        _ = herd_curl_setopt_long(handle, CURLOPT_TCP_KEEPALIVE, 1)
        _ = herd_curl_setopt_long(handle, CURLOPT_TCP_NODELAY, 1)
        _ = herd_curl_setopt_long(handle, CURLOPT_BUFFERSIZE, 64 << 10)
        _ = herd_curl_setopt_string(handle, CURLOPT_USERAGENT, configuration.userAgent)
        _ = herd_curl_setopt_long(handle, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS)
    }

    static func classify(_ code: CURLcode, message: String) -> UpstreamError {
        let kind: UpstreamError.Kind
        switch code {
        case CURLE_OPERATION_TIMEDOUT: kind = .timeout
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY: kind = .dns
        case CURLE_COULDNT_CONNECT: kind = .connect
        case CURLE_SSL_CONNECT_ERROR, CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_CERTPROBLEM,
             CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE, CURLE_SSL_ISSUER_ERROR,
             CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS:
            kind = .tls
        case CURLE_FILESIZE_EXCEEDED: kind = .bodyTooLarge
        case CURLE_GOT_NOTHING, CURLE_RECV_ERROR, CURLE_SEND_ERROR, CURLE_PARTIAL_FILE,
             CURLE_WEIRD_SERVER_REPLY, CURLE_HTTP2, CURLE_HTTP2_STREAM, CURLE_BAD_CONTENT_ENCODING:
            kind = .protocolError
        default: kind = .other
        }
        return UpstreamError(kind: kind, message: message)
    }
}

/// The state of one transfer, reached from libcurl's C callbacks.
private final class Transfer {
    let sink: UpstreamResponseSink
    let maxBodyBytes: Int
    let maxHeaderBytes: Int

    var parser: ResponseHeadParser
    var headDelivered = false
    var status: Int? { parser.status }
    var bodyBytes = 0
    /// Why we stopped the transfer ourselves, if we did.
    var abortReason: UpstreamError?

    let idleTimeout: Double
    var lastReceived: curl_off_t = 0
    var lastProgressAt = MonotonicClock.now()

    init(sink: UpstreamResponseSink, maxBodyBytes: Int, maxHeaderBytes: Int, idleTimeout: Double) {
        self.sink = sink
        self.maxBodyBytes = maxBodyBytes
        self.maxHeaderBytes = maxHeaderBytes
        self.idleTimeout = idleTimeout
        self.parser = ResponseHeadParser(maxBytes: maxHeaderBytes)
    }

    /// Called by libcurl about once a second when idle; non-zero aborts.
    func progress(received: curl_off_t) -> Int32 {
        let now = MonotonicClock.now()
        if received != lastReceived {
            lastReceived = received
            lastProgressAt = now
            return 0
        }
        guard received > 0, now - lastProgressAt > idleTimeout else { return 0 }
        abortReason = UpstreamError(kind: .timeout, message: "origin stalled for \(Int(idleTimeout)) s mid-body")
        return 1
    }

    /// One header line per call, CRLF included; the status line starts each
    /// response (there can be several: 100 Continue, 103 Early Hints).
    func header(_ line: UnsafeRawBufferPointer) -> Int {
        // Trailers after a chunked body come through here too: the head
        // that framed the body has been answered already; they are dropped.
        guard !headDelivered else { return line.count }
        switch parser.feed(line: line) {
        case .needMore, .interim:
            return line.count
        case .head(let status):
            headDelivered = true
            return deliverHead(status: status) ? line.count : 0
        case .refused(let refusal):
            let kind: UpstreamError.Kind = refusal == .tooLarge ? .headersTooLarge : .protocolError
            abortReason = UpstreamError(kind: kind, message: "response head refused: \(refusal.rawValue)")
            return 0
        }
    }

    private func deliverHead(status: Int) -> Bool {
        var head = UpstreamResponseHead(status: status, headers: parser.headers)
        head.closeDelimited = parser.majorVersion == 1 && status != 204 && status != 304
            && head.contentLength == nil && head.value(of: "Transfer-Encoding") == nil
        if let length = head.contentLength, length > maxBodyBytes {
            abortReason = UpstreamError(kind: .bodyTooLarge, message: "Content-Length \(length) over the \(maxBodyBytes)-byte cap")
            return false
        }
        if !sink.receiveHead(head) {
            abortReason = UpstreamError(kind: .clientGone, message: "stopped after the head")
            return false
        }
        return true
    }

    func body(_ chunk: UnsafeRawBufferPointer) -> Int {
        bodyBytes += chunk.count
        if bodyBytes > maxBodyBytes {
            abortReason = UpstreamError(kind: .bodyTooLarge, message: "body over the \(maxBodyBytes)-byte cap")
            return 0
        }
        if !sink.receiveBody(chunk) {
            abortReason = UpstreamError(kind: .clientGone, message: "nginx closed the connection")
            return 0
        }
        return chunk.count
    }
}

