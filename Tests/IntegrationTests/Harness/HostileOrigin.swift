import Foundation
import Imaging
#if canImport(Glibc)
import Glibc
import HerdTestSupport
#endif

/// An origin that says exactly what a test tells it to, on raw sockets.
///
/// A real HTTP/1.1 server on 127.0.0.1 (a free port chosen by the kernel):
/// it reads each request head on a kept-alive connection and answers from
/// the *script* registered for the request's path, byte for byte, so a test
/// can send anything a hostile or broken origin would: forged second
/// responses, lying lengths, floods of headers, garbage status lines, pauses
/// between pieces, bodies that never end.
///
/// After a script's last step the connection waits for the next request
/// unless a step closed it. `stop()` closes everything and waits for every
/// thread the origin started.
final class HostileOrigin: @unchecked Sendable {
    /// One thing a script does on the connection.
    enum Step: Sendable {
        /// These bytes, in one `send`.
        case send([UInt8])
        /// Nothing for this many seconds.
        case pause(Double)
        /// `bytes` in pieces of `pieceSize`, `interval` seconds apart.
        case trickle([UInt8], pieceSize: Int, interval: Double)
        /// `chunk` every `interval` seconds until the peer goes or the origin stops.
        case endless([UInt8], interval: Double)
        /// Sends nothing until the peer closes, the origin stops, or `seconds` pass.
        case hold(Double)
        /// Closes the connection (FIN); the script ends.
        case close
        /// Closes the connection with a reset (RST); the script ends.
        case reset
        /// Ends the script here; the connection waits for the next request.
        case keepOpen
    }

    /// A request head as the origin received it.
    struct Request: Sendable {
        let method: String
        let target: String
        /// The target without its query.
        let path: String
        let headers: [Header]
        /// The head's raw bytes, request line to the blank line.
        let head: [UInt8]
        /// Which accepted connection it came on (1 = the first).
        let connection: Int
        /// 1 for the first request on its connection, 2 for the next, …
        let indexOnConnection: Int

        struct Header: Sendable {
            let name: String
            let value: String
        }

        func header(_ name: String) -> String? {
            headers.first { $0.name.lowercased() == name.lowercased() }?.value
        }
    }

    typealias Script = @Sendable (Request) -> [Step]

    let port: UInt16
    var url: String { "http://127.0.0.1:\(port)" }

    private let lock = NSLock()
    private var exact: [String: Script] = [:]
    private var prefixes: [(prefix: String, script: Script)] = []
    private var stopped = false
    private var listener: Int32
    private var openConnections: [Int32: Int] = [:]
    private var liveThreads = 0
    private var accepted = 0
    private var requests: [Request] = []
    private var countsByPath: [String: Int] = [:]

    init() throws {
        let (fd, port) = try LoopbackListener.open()
        self.port = port
        listener = fd
        liveThreads = 1
        let thread = Thread { [self] in acceptLoop() }
        thread.name = "hostile-origin-accept"
        thread.start()
    }

    deinit { stop() }

    // MARK: Scripts

    /// Answers requests for exactly `path` (the query is ignored) with `steps`.
    func on(_ path: String, _ steps: [Step]) {
        on(path) { _ in steps }
    }

    /// Answers requests for exactly `path` with what `script` returns for each request.
    func on(_ path: String, script: @escaping Script) {
        lock.lock(); exact[path] = script; lock.unlock()
    }

    /// Answers requests whose path starts with `prefix` (when no exact path matches; longest prefix first).
    func onPrefix(_ prefix: String, _ steps: [Step]) {
        onPrefix(prefix) { _ in steps }
    }

    func onPrefix(_ prefix: String, script: @escaping Script) {
        lock.lock()
        prefixes.append((prefix, script))
        prefixes.sort { $0.prefix.count > $1.prefix.count }
        lock.unlock()
    }

    private func script(for path: String) -> Script {
        lock.lock(); defer { lock.unlock() }
        if let script = exact[path] { return script }
        if let match = prefixes.first(where: { path.hasPrefix($0.prefix) }) { return match.script }
        return { _ in [.send(HostileOrigin.response(status: 404, headers: [("Content-Type", "text/plain")], body: "no script\n")), .keepOpen] }
    }

    // MARK: What it saw

    /// Connections accepted so far.
    var connections: Int { lock.lock(); defer { lock.unlock() }; return accepted }

    /// Requests received for `path` (query ignored).
    func requestCount(_ path: String) -> Int { lock.lock(); defer { lock.unlock() }; return countsByPath[path] ?? 0 }

    var totalRequests: Int { lock.lock(); defer { lock.unlock() }; return requests.count }

    /// Threads the origin started that have not ended (the accept loop and one per open connection).
    var runningThreads: Int { lock.lock(); defer { lock.unlock() }; return liveThreads }

    /// Every request head received, in order.
    var received: [Request] { lock.lock(); defer { lock.unlock() }; return requests }

    // MARK: Stopping

    /// Closes the listening socket and every connection, and waits (up to
    /// five seconds) for every thread the origin started to end.
    func stop() {
        lock.lock()
        stopped = true
        // shutdown() wakes a thread blocked in recv/send/poll on the socket;
        // each thread closes its own descriptor on the way out.
        for fd in openConnections.keys { shutdown(fd, Int32(SHUT_RDWR)) }
        lock.unlock()
        _ = Wait.until(timeout: 5) { self.lock.withLock { self.liveThreads == 0 } }
    }

    private var isStopped: Bool { lock.lock(); defer { lock.unlock() }; return stopped }

    private func threadEnded() { lock.lock(); liveThreads -= 1; lock.unlock() }

    private func acceptLoop() {
        defer {
            close(listener)
            threadEnded()
        }
        while !isStopped {
            var poller = pollfd(fd: listener, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 50) > 0 else { continue }
            let fd = accept(listener, nil, nil)
            guard fd >= 0 else { continue }
            _ = fcntl(fd, F_SETFD, FD_CLOEXEC)
            var one: Int32 = 1
            setsockopt(fd, Int32(IPPROTO_TCP), TCP_NODELAY, &one, socklen_t(MemoryLayout<Int32>.size))
            lock.lock()
            if stopped {
                lock.unlock()
                close(fd)
                break
            }
            accepted += 1
            let number = accepted
            openConnections[fd] = number
            liveThreads += 1
            lock.unlock()
            let thread = Thread { [self] in serve(fd, connection: number) }
            thread.name = "hostile-origin-\(number)"
            thread.start()
        }
    }

    // MARK: One connection

    private enum Outcome { case next, closed }

    private func serve(_ fd: Int32, connection: Int) {
        defer {
            lock.lock(); openConnections[fd] = nil; lock.unlock()
            close(fd)
            threadEnded()
        }
        var buffer: [UInt8] = []
        var index = 0
        while let request = readRequest(fd, buffer: &buffer, connection: connection, index: index + 1) {
            index += 1
            lock.lock()
            requests.append(request)
            countsByPath[request.path, default: 0] += 1
            lock.unlock()
            if run(script(for: request.path)(request), on: fd) == .closed { return }
        }
    }

    private func readRequest(_ fd: Int32, buffer: inout [UInt8], connection: Int, index: Int) -> Request? {
        var end: Int? = HostileOrigin.find(HostileOrigin.crlfcrlf, in: buffer)
        var chunk = [UInt8](repeating: 0, count: 16384)
        while end == nil {
            guard waitReadable(fd, seconds: nil) else { return nil }
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { return nil }
            buffer += chunk[0..<n]
            end = HostileOrigin.find(HostileOrigin.crlfcrlf, in: buffer)
            if buffer.count > 1 << 20 { return nil }
        }
        let head = Array(buffer[0..<(end! + 4)])
        buffer.removeFirst(end! + 4)
        let text = String(decoding: head, as: UTF8.self)
        var lines = text.components(separatedBy: "\r\n").filter { !$0.isEmpty }
        let requestLine = lines.isEmpty ? "" : lines.removeFirst()
        let parts = requestLine.split(separator: " ")
        let method = parts.count > 0 ? String(parts[0]) : ""
        let target = parts.count > 1 ? String(parts[1]) : ""
        let headers = lines.compactMap { line -> Request.Header? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            return .init(name: String(line[..<colon]), value: line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let request = Request(method: method, target: target, path: String(target.split(separator: "?", maxSplits: 1).first ?? ""),
                              headers: headers, head: head, connection: connection, indexOnConnection: index)
        // herd sends no request bodies; skip one if a length says there is.
        if let length = request.header("Content-Length").flatMap(Int.init), length > 0 {
            while buffer.count < length {
                guard waitReadable(fd, seconds: 5) else { return nil }
                let n = recv(fd, &chunk, chunk.count, 0)
                if n <= 0 { return nil }
                buffer += chunk[0..<n]
            }
            buffer.removeFirst(length)
        }
        return request
    }

    private func run(_ steps: [Step], on fd: Int32) -> Outcome {
        for step in steps {
            switch step {
            case .send(let bytes):
                guard sendAll(fd, bytes) else { return .closed }
            case .pause(let seconds):
                guard sleep(seconds) else { return .closed }
            case .trickle(let bytes, let size, let interval):
                var offset = 0
                while offset < bytes.count {
                    let end = min(bytes.count, offset + max(1, size))
                    guard sendAll(fd, Array(bytes[offset..<end])) else { return .closed }
                    offset = end
                    if offset < bytes.count { guard sleep(interval) else { return .closed } }
                }
            case .endless(let chunk, let interval):
                while true {
                    guard sendAll(fd, chunk), !peerClosed(fd), sleep(interval) else { return .closed }
                }
            case .hold(let seconds):
                let deadline = Date().addingTimeInterval(seconds)
                while Date() < deadline {
                    if isStopped || peerClosed(fd) { return .closed }
                    usleep(20_000)
                }
            case .close:
                return .closed
            case .reset:
                var linger = Glibc.linger(l_onoff: 1, l_linger: 0)
                setsockopt(fd, SOL_SOCKET, SO_LINGER, &linger, socklen_t(MemoryLayout<Glibc.linger>.size))
                return .closed
            case .keepOpen:
                return .next
            }
        }
        return .next
    }

    private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var sent = 0
        while sent < bytes.count {
            if isStopped { return false }
            let n = bytes[sent...].withUnsafeBytes { send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
            if n <= 0 { return false }
            sent += n
        }
        return true
    }

    /// Sleeps in small steps; false if the origin stopped meanwhile.
    private func sleep(_ seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if isStopped { return false }
            usleep(UInt32(max(1_000, min(10_000, deadline.timeIntervalSinceNow * 1e6))))
        }
        return !isStopped
    }

    /// Waits until `fd` has bytes (or EOF); nil seconds = until the origin stops.
    private func waitReadable(_ fd: Int32, seconds: Double?) -> Bool {
        let deadline = seconds.map { Date().addingTimeInterval($0) }
        while !isStopped {
            if let deadline, Date() >= deadline { return false }
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            if poll(&poller, 1, 50) > 0 { return true }
        }
        return false
    }

    /// True when the peer has closed its end (readable with nothing to read) or the socket failed.
    private func peerClosed(_ fd: Int32) -> Bool {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, 0) > 0 else { return false }
        if poller.revents & Int16(POLLERR | POLLHUP) != 0 { return true }
        var byte: UInt8 = 0
        return recv(fd, &byte, 1, Int32(MSG_PEEK) | Int32(MSG_DONTWAIT)) == 0
    }

    // MARK: Building responses

    static let crlfcrlf: [UInt8] = Array("\r\n\r\n".utf8)

    /// A status line and headers, ending with the blank line; nothing added.
    static func head(status: Int = 200, reason: String? = nil, headers: [(String, String)] = [], version: String = "HTTP/1.1") -> [UInt8] {
        var text = "\(version) \(status) \(reason ?? reasonPhrase(status))\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        return Array((text + "\r\n").utf8)
    }

    static func reasonPhrase(_ status: Int) -> String {
        switch status {
        case 100: "Continue"
        case 200: "OK"
        case 204: "No Content"
        case 206: "Partial Content"
        case 302: "Found"
        case 304: "Not Modified"
        case 404: "Not Found"
        case 500: "Internal Server Error"
        case 502: "Bad Gateway"
        case 503: "Service Unavailable"
        default: "Status \(status)"
        }
    }

    /// A well-formed response: adds `Content-Length` unless the headers
    /// already frame the body (Content-Length or Transfer-Encoding) or
    /// `contentLength` is false.
    static func response(status: Int = 200, reason: String? = nil, headers: [(String, String)] = [], body: [UInt8] = [],
                         contentLength: Bool = true) -> [UInt8] {
        var all = headers
        let framed = headers.contains { ["content-length", "transfer-encoding"].contains($0.0.lowercased()) }
        if contentLength, !framed { all.append(("Content-Length", String(body.count))) }
        return head(status: status, reason: reason, headers: all) + body
    }

    static func response(status: Int = 200, reason: String? = nil, headers: [(String, String)] = [], body: String) -> [UInt8] {
        response(status: status, reason: reason, headers: headers, body: Array(body.utf8))
    }

    /// `body` in chunked coding, `pieceSize` bytes a chunk, with the last chunk.
    static func chunked(_ body: [UInt8], pieceSize: Int = 4096) -> [UInt8] {
        var output: [UInt8] = []
        var offset = 0
        while offset < body.count {
            let end = min(body.count, offset + pieceSize)
            output += Array("\(String(end - offset, radix: 16))\r\n".utf8) + body[offset..<end] + [13, 10]
            offset = end
        }
        return output + Array("0\r\n\r\n".utf8)
    }

    static func find(_ needle: [UInt8], in haystack: [UInt8]) -> Int? {
        guard !needle.isEmpty, haystack.count >= needle.count else { return nil }
        let first = needle[0]
        var i = 0
        let last = haystack.count - needle.count
        return haystack.withUnsafeBufferPointer { hay in
            while i <= last {
                if hay[i] == first {
                    var j = 1
                    while j < needle.count, hay[i + j] == needle[j] { j += 1 }
                    if j == needle.count { return i }
                }
                i += 1
            }
            return nil
        }
    }

    static func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
        find(Array(needle.utf8), in: haystack) != nil
    }
}

// MARK: - A client that says whether a response was complete

/// A response and whether its framing was satisfied: all of Content-Length,
/// or the last chunk. A response cut short is what nginx sends when its
/// upstream failed after the head went out.
struct FramedResponse {
    var response: HTTPResponse
    var complete: Bool
    /// Header lines exactly as received (between CRLFs).
    var rawHeaderLines: [[UInt8]]

    var status: Int { response.status }
    var body: [UInt8] { response.body }
    func header(_ name: String) -> String? { response.header(name) }

    /// Every Cache-Control line, joined as a cache reads them (nil without any).
    var cacheControl: String? {
        let values = response.headers(named: "Cache-Control")
        return values.isEmpty ? nil : values.joined(separator: ", ")
    }
}

enum FramedHTTP {
    /// One request over a new connection (`Connection: close`); reads until
    /// the server closes or `timeout` passes without a byte.
    static func request(port: UInt16, method: String = "GET", target: String, headers: [(String, String)] = [],
                        timeout: Double = 30) throws -> FramedResponse {
        let fd = try RawHTTP.connectLoopback(port: port, timeout: timeout)
        defer { close(fd) }
        var text = "\(method) \(target) HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n"
        for (name, value) in headers { text += "\(name): \(value)\r\n" }
        try RawHTTP.sendAll(fd, Array((text + "\r\n").utf8))
        var raw: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while true {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n < 0 {
                if raw.isEmpty { throw HTTPClientError(description: "no answer within \(timeout) s: \(String(cString: strerror(errno)))") }
                break
            }
            if n == 0 { break }
            raw += chunk[0..<n]
        }
        return try parse(raw, method: method)
    }

    static func parse(_ raw: [UInt8], method: String) throws -> FramedResponse {
        guard let headEnd = HostileOrigin.find(HostileOrigin.crlfcrlf, in: raw) else {
            throw HTTPClientError(description: "connection closed before the head (\(raw.count) bytes)")
        }
        var lines: [[UInt8]] = []
        var start = 0
        let head = Array(raw[0..<headEnd])
        while let end = HostileOrigin.find([13, 10], in: Array(head[start...])) {
            lines.append(Array(head[start..<(start + end)]))
            start += end + 2
        }
        lines.append(Array(head[start...]))
        let statusLine = String(decoding: lines.removeFirst(), as: UTF8.self)
        let parts = statusLine.split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw HTTPClientError(description: "bad status line \(statusLine)") }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            let text = String(decoding: line, as: UTF8.self)
            guard let colon = text.firstIndex(of: ":") else { return nil }
            return (String(text[..<colon]), text[text.index(after: colon)...].trimmingCharacters(in: .whitespaces))
        }
        let rest = Array(raw[(headEnd + 4)...])
        var response = HTTPResponse(status: status, headers: headers, body: rest)
        var complete = true
        let bodiless = method == "HEAD" || status == 204 || status == 304 || (100..<200).contains(status)
        if bodiless {
            response.body = rest
            complete = rest.isEmpty
        } else if response.header("Transfer-Encoding")?.lowercased().contains("chunked") == true {
            let (body, done) = dechunk(rest)
            response.body = body
            complete = done
        } else if let length = response.header("Content-Length").flatMap(Int.init) {
            complete = rest.count == length
        }
        return FramedResponse(response: response, complete: complete, rawHeaderLines: lines)
    }

    /// The chunked body's data and whether the last chunk arrived.
    static func dechunk(_ data: [UInt8]) -> ([UInt8], Bool) {
        var output: [UInt8] = []
        var index = 0
        while index < data.count {
            guard let lineEnd = HostileOrigin.find([13, 10], in: Array(data[index...])) else { return (output, false) }
            let sizeText = String(decoding: data[index..<(index + lineEnd)], as: UTF8.self).split(separator: ";").first ?? ""
            guard let size = Int(sizeText.trimmingCharacters(in: .whitespaces), radix: 16) else { return (output, false) }
            index += lineEnd + 2
            if size == 0 { return (output, true) }
            guard index + size <= data.count else {
                output += data[index...]
                return (output, false)
            }
            output += data[index..<(index + size)]
            index += size + 2
        }
        return (output, false)
    }
}

// MARK: - What nginx stored

/// One file of nginx's cache, read back: the key, the lifetime nginx gave
/// it, and the response herd sent (FastCGI framing removed).
struct NginxCacheEntry {
    var file: String
    var key: String
    /// `valid_sec` of the file header: when the entry expires (Unix time).
    var validUntil: Int
    var status: Int
    var headers: [(name: String, value: String)]
    var body: [UInt8]
    /// The whole file, for substring checks.
    var raw: [UInt8]

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Seconds left to live, from now.
    var secondsLeft: Int { validUntil - Int(Date().timeIntervalSince1970) }

    /// Every file under `directory` (nginx's cache root), parsed.
    static func all(in directory: URL) -> [NginxCacheEntry] {
        guard let enumerator = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey]) else { return [] }
        var entries: [NginxCacheEntry] = []
        for case let url as URL in enumerator {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true,
                  let data = try? Data(contentsOf: url) else { continue }
            if let entry = parse([UInt8](data), file: url.path) { entries.append(entry) }
        }
        return entries
    }

    /// ngx_http_file_cache_header_t (nginx 1.22, 64-bit): valid_sec at 8,
    /// header_start at 54, body_start at 56; then "\nKEY: …\n", the
    /// upstream's head as received (FastCGI records), and the body.
    static func parse(_ raw: [UInt8], file: String) -> NginxCacheEntry? {
        guard raw.count > 64, let keyAt = HostileOrigin.find(Array("\nKEY: ".utf8), in: raw) else { return nil }
        let keyStart = keyAt + 6
        guard let keyLength = HostileOrigin.find([10], in: Array(raw[keyStart...])) else { return nil }
        let key = String(decoding: raw[keyStart..<(keyStart + keyLength)], as: UTF8.self)
        func u16(_ at: Int) -> Int { Int(raw[at]) | Int(raw[at + 1]) << 8 }
        var valid = 0
        for i in 0..<8 { valid |= Int(raw[8 + i]) << (8 * i) }
        let headerStart = u16(54), bodyStart = u16(56)
        guard headerStart <= bodyStart, bodyStart <= raw.count else { return nil }
        // The head region holds FastCGI records (8-byte headers); keep their content.
        let region = Array(raw[headerStart..<bodyStart])
        var head: [UInt8] = []
        var at = 0
        if region.first == 1 {
            while at + 8 <= region.count {
                let length = Int(region[at + 4]) << 8 | Int(region[at + 5])
                let padding = Int(region[at + 6])
                let type = region[at + 1]
                let contentEnd = min(region.count, at + 8 + length)
                if type == 6 { head += region[(at + 8)..<contentEnd] }
                at = at + 8 + length + padding
            }
        } else {
            head = region
        }
        let text = String(decoding: head, as: UTF8.self)
        var status = 200
        var headers: [(name: String, value: String)] = []
        for line in text.components(separatedBy: "\r\n") where !line.isEmpty {
            guard let colon = line.firstIndex(of: ":") else {
                // A proxied (HTTP) entry starts with its status line.
                if line.hasPrefix("HTTP/"), let code = line.split(separator: " ").dropFirst().first.flatMap({ Int($0) }) { status = code }
                continue
            }
            let name = String(line[..<colon])
            let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
            if name.lowercased() == "status", let code = Int(value.prefix(3)) { status = code }
            headers.append((name, value))
        }
        return NginxCacheEntry(file: file, key: key, validUntil: valid, status: status, headers: headers,
                               body: Array(raw[bodyStart...]), raw: raw)
    }
}

// MARK: - Shared checks

enum Hostile {
    /// Accept headers and the variant nginx keys each on.
    static let variants: [(accept: String, variant: String)] = [
        ("image/avif,image/webp,*/*", "avif"),
        ("image/webp,*/*", "webp"),
        ("*/*", "orig"),
    ]

    /// nginx's media cache key for a path and variant (server/media-cache.conf).
    static func cacheKey(_ target: String, variant: String) -> String { "httplocalhost\(target)|\(variant)" }

    /// A lifetime fit for an error or a one-off answer: no Cache-Control,
    /// `no-store`, or every max-age / s-maxage at most `limit` seconds.
    static func isShortLived(_ cacheControl: String?, limit: Int = 60) -> Bool {
        guard let cacheControl, !cacheControl.trimmingCharacters(in: .whitespaces).isEmpty else { return true }
        let lowered = cacheControl.lowercased()
        if lowered.contains("no-store") { return true }
        var ages: [Int] = []
        for directive in lowered.split(separator: ",") {
            let parts = directive.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            if parts.count == 2, parts[0] == "max-age" || parts[0] == "s-maxage" {
                ages.append(Int(parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))) ?? Int.max)
            }
        }
        return !ages.isEmpty && ages.allSatisfy { $0 <= limit }
    }

    /// Width and height from an image's header (AVIF, WebP, JPEG, PNG, GIF).
    static func dimensions(_ bytes: [UInt8]) -> (width: Int, height: Int)? {
        guard let info = try? bytes.withUnsafeBytes({ raw throws(ImageError) in try Probe.run(raw, limits: ImageLimits(maxPixels: 1_000_000_000)) })
        else { return nil }
        return (info.width, info.height)
    }

    /// Describes a response in one line, for failure messages.
    static func describe(_ response: FramedResponse) -> String {
        let preview = String(decoding: response.body.prefix(40), as: UTF8.self).unicodeScalars
            .map { $0.value < 0x20 || $0.value > 0x7e ? "." : String($0) }.joined()
        return "\(response.status) \(response.body.count) bytes\(response.complete ? "" : " (cut short)") "
            + "Content-Length=\(response.header("Content-Length") ?? "-") Cache-Control=\(response.cacheControl ?? "-") "
            + "X-Cache-Status=\(response.header("X-Cache-Status") ?? "-") X-Herd-Error=\(response.header("X-Herd-Error") ?? "-") body \"\(preview)\""
    }
}

// MARK: - A bare connection

/// A TCP connection to 127.0.0.1 for tests that speak bytes, not requests.
final class RawConnection {
    let fd: Int32

    init(port: UInt16, timeout: Double = 5) throws {
        fd = try RawHTTP.connectLoopback(port: port, timeout: timeout)
    }

    deinit { close(fd) }

    func send(_ text: String) {
        let bytes = Array(text.utf8)
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads until `done` says the bytes so far are enough, the peer closes, or a read times out.
    func read(until done: ([UInt8]) -> Bool) -> [UInt8] {
        var received: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 65536)
        while !done(received) {
            let n = recv(fd, &chunk, chunk.count, 0)
            if n <= 0 { break }
            received += chunk[0..<n]
        }
        return received
    }
}
