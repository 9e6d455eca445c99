import Basics

/// A request URI that passed validation: safe to route and to forward.
public struct RequestTarget: Sendable, Equatable {
    /// The path as the client sent it (still percent-encoded).
    public let path: Substring
    /// The query without `?`, if any.
    public let query: Substring?
    /// The URI as sent, to append to the origin's base URL.
    public let raw: String

    /// Why a URI was refused: the status to answer with and a reason for the log.
    public struct Rejection: HTTPFailure, Equatable {
        public let status: Int
        public let reason: String
    }

    /// Checks the raw `REQUEST_URI` before anything else looks at it.
    ///
    /// nginx normalizes `$uri` for its own location matching but passes
    /// `REQUEST_URI` raw, and raw is what we forward, so raw is what we check:
    /// `..` and `.` segments (also percent-encoded, in any case mix),
    /// encoded `/` and `\` (which some origins decode into separators),
    /// NUL, CR, LF and other control bytes (raw or encoded), bad
    /// percent-escapes, and over-long URIs.
    public init(validating raw: String, maxLength: Int) throws(Rejection) {
        let bytes = Array(raw.utf8)
        guard bytes.count <= maxLength else {
            throw Rejection(status: 414, reason: "uri_too_long")
        }
        guard bytes.first == UInt8(ascii: "/") else {
            throw Rejection(status: 400, reason: "not_origin_form")
        }
        var queryStart: Int? = nil
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            if byte < 0x21 || byte == 0x7f {
                throw Rejection(status: 400, reason: "control_byte")
            }
            if byte == UInt8(ascii: "\\") || byte == UInt8(ascii: "#") {
                throw Rejection(status: 400, reason: "bad_character")
            }
            if byte == UInt8(ascii: "?"), queryStart == nil {
                queryStart = index
            }
            if byte == UInt8(ascii: "%") {
                guard index + 2 < bytes.count,
                      let high = Self.hexValue(bytes[index + 1]), let low = Self.hexValue(bytes[index + 2]) else {
                    throw Rejection(status: 400, reason: "bad_percent_escape")
                }
                let decoded = high << 4 | low
                if decoded < 0x20 || decoded == 0x7f {
                    throw Rejection(status: 400, reason: "encoded_control_byte")
                }
                if queryStart == nil, decoded == UInt8(ascii: "/") || decoded == UInt8(ascii: "\\") {
                    throw Rejection(status: 400, reason: "encoded_separator")
                }
                index += 3
                continue
            }
            index += 1
        }

        let pathEnd = queryStart ?? bytes.count
        try Self.checkSegments(bytes[0..<pathEnd])

        self.raw = raw
        let utf8 = raw.utf8
        let pathEndIndex = utf8.index(utf8.startIndex, offsetBy: pathEnd)
        self.path = raw[raw.startIndex..<pathEndIndex]
        if let queryStart {
            let start = utf8.index(utf8.startIndex, offsetBy: queryStart + 1)
            self.query = raw[start...]
        } else {
            self.query = nil
        }
    }

    /// Refuses `.` and `..` segments, spelled with `%2e` or not, and empty
    /// segments (`//`), which some servers collapse into something else.
    private static func checkSegments(_ path: ArraySlice<UInt8>) throws(Rejection) {
        let segments = path.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
        for (position, segment) in segments.enumerated() {
            if segment.isEmpty {
                // A trailing slash is harmless; `//` in the middle is not.
                if position == segments.count - 1 { continue }
                throw Rejection(status: 400, reason: "empty_segment")
            }
            var dots = 0
            var other = false
            var cursor = segment.startIndex
            while cursor < segment.endIndex {
                if segment[cursor] == UInt8(ascii: ".") {
                    dots += 1
                    cursor += 1
                } else if segment[cursor] == UInt8(ascii: "%"), cursor + 2 < segment.endIndex,
                          segment[cursor + 1] == UInt8(ascii: "2"),
                          segment[cursor + 2] | 0x20 == UInt8(ascii: "e") {
                    dots += 1
                    cursor += 3
                } else {
                    other = true
                    break
                }
            }
            if !other, dots == 1 || dots == 2 {
                throw Rejection(status: 400, reason: "dot_segment")
            }
        }
    }

    private static func hexValue(_ byte: UInt8) -> UInt8? {
        switch byte {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): byte - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): byte - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): byte - UInt8(ascii: "A") + 10
        default: nil
        }
    }

    /// The URI to append to the origin's base URL: bytes outside printable
    /// ASCII and the few characters libcurl's URL parser refuses are
    /// percent-encoded; everything else goes as the client sent it.
    public var forwardable: String { PercentEncoding.encodingUnsafeInURL(raw) }
}
