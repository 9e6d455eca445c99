import Basics

/// Reads an origin's response head one line at a time, as libcurl's header
/// callback hands them over (CRLF included). No I/O: lines in, events out,
/// so it can be unit-tested and fuzzed on its own.
///
/// What it refuses is what would let a hostile origin smuggle a second
/// meaning into the head: bytes that no header may carry (NUL, bare CR or
/// LF, other controls but tab) in a name or value, a name that is not an
/// HTTP token, conflicting `Content-Length` values, and a head over
/// `maxBytes`. Obsolete folded lines are refused too (RFC 9112 §5.2 allows
/// rejecting them; passing them on would join two lines into one).
public struct ResponseHeadParser: Sendable {
    public enum Event: Equatable, Sendable {
        /// The line was taken; more to come.
        case needMore
        /// A 1xx head ended; the real one follows.
        case interim
        /// The final head ended.
        case head(status: Int)
        /// The head is not acceptable; stop the transfer.
        case refused(Refusal)
    }

    public enum Refusal: String, Sendable, Equatable {
        case tooLarge = "headers_too_large"
        case badStatusLine = "bad_status_line"
        case badHeader = "bad_header"
        case ambiguousLength = "ambiguous_length"
        case noStatusLine = "no_status_line"
    }

    public let maxBytes: Int
    public private(set) var bytes = 0
    public private(set) var status: Int?
    /// The major HTTP version of the status line (1 for HTTP/1.x, 2, 3).
    public private(set) var majorVersion = 1
    public private(set) var headers: [(name: String, value: String)] = []

    public init(maxBytes: Int) {
        self.maxBytes = maxBytes
    }

    /// The head, once `.head` was returned.
    public var head: UpstreamResponseHead? {
        status.map { UpstreamResponseHead(status: $0, headers: headers) }
    }

    public mutating func feed(line: UnsafeRawBufferPointer) -> Event {
        bytes += line.count
        guard bytes <= maxBytes else { return .refused(.tooLarge) }
        var end = line.count
        if end > 0, line[end - 1] == 0x0a { end -= 1 }
        if end > 0, line[end - 1] == 0x0d { end -= 1 }
        let content = UnsafeRawBufferPointer(rebasing: line[0..<end])

        if content.count >= 5, content.starts(with: "HTTP/".utf8) {
            guard let code = Self.statusCode(content) else { return .refused(.badStatusLine) }
            status = code
            let digit = content[5]
            majorVersion = digit >= 0x30 && digit <= 0x39 ? Int(digit - 0x30) : 1
            headers.removeAll(keepingCapacity: true)
            return .needMore
        }
        guard let status else { return .refused(.noStatusLine) }
        if content.isEmpty {
            // End of a head. 1xx heads are followed by the real one.
            if status < 200 { return .interim }
            return Self.hasAmbiguousLength(headers) ? .refused(.ambiguousLength) : .head(status: status)
        }
        guard let colon = content.firstIndex(of: UInt8(ascii: ":")), colon > 0,
              content[..<colon].allSatisfy(Self.isTokenByte) else { return .refused(.badHeader) }
        var valueStart = colon + 1
        var valueEnd = content.count
        while valueStart < valueEnd, content[valueStart] == 0x20 || content[valueStart] == 0x09 { valueStart += 1 }
        while valueEnd > valueStart, content[valueEnd - 1] == 0x20 || content[valueEnd - 1] == 0x09 { valueEnd -= 1 }
        let value = UnsafeRawBufferPointer(rebasing: content[valueStart..<valueEnd])
        guard value.allSatisfy(Self.isValueByte) else { return .refused(.badHeader) }
        headers.append((String(decoding: UnsafeRawBufferPointer(rebasing: content[..<colon]), as: UTF8.self),
                        String(decoding: value, as: UTF8.self)))
        return .needMore
    }

    /// `HTTP/x.y NNN[ reason]`: three digits, 100–599.
    static func statusCode(_ line: UnsafeRawBufferPointer) -> Int? {
        guard let space = line.firstIndex(of: 0x20), space + 4 <= line.count else { return nil }
        var code = 0
        for index in space + 1...space + 3 {
            let byte = line[index]
            guard byte >= 0x30, byte <= 0x39 else { return nil }
            code = code * 10 + Int(byte - 0x30)
        }
        if space + 4 < line.count, line[space + 4] != 0x20 { return nil }
        return (100...599).contains(code) ? code : nil
    }

    /// RFC 9110 token characters.
    static func isTokenByte(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "!#$%&'*+-.^_`|~".utf8.contains(byte)
        }
    }

    /// Visible characters, space, tab and obs-text; never NUL, CR, LF or other controls.
    static func isValueByte(_ byte: UInt8) -> Bool {
        byte == 0x09 || (byte >= 0x20 && byte != 0x7f)
    }

    /// Which bytes belong to this response must have one answer: two
    /// Content-Length values that disagree, one that is not a number, or a
    /// Content-Length beside Transfer-Encoding (RFC 9112 §6.1: "ought to be
    /// handled as an error") are what response splitting plays on.
    static func hasAmbiguousLength(_ headers: [(name: String, value: String)]) -> Bool {
        var seen: String?
        let chunked = headers.contains { $0.name.caseInsensitiveEquals("Transfer-Encoding") }
        for header in headers where header.name.caseInsensitiveEquals("Content-Length") {
            for part in header.value.split(separator: ",", omittingEmptySubsequences: false) {
                let text = part.trimmingHTTPWhitespace()
                guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }) else { return true }
                if chunked { return true }
                if let seen, seen != text { return true }
                seen = text
            }
        }
        return false
    }
}
