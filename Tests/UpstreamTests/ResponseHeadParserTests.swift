import Testing
@testable import Upstream

/// The origin's response head, line by line as libcurl hands it over: what
/// is taken, and what a hostile origin cannot get past it.
@Suite("Response head parser")
struct ResponseHeadParserTests {
    func parse(_ lines: [String], maxBytes: Int = 64 << 10) -> (events: [ResponseHeadParser.Event], parser: ResponseHeadParser) {
        var parser = ResponseHeadParser(maxBytes: maxBytes)
        var events: [ResponseHeadParser.Event] = []
        for line in lines {
            let bytes = Array(line.utf8)
            let event = bytes.withUnsafeBytes { parser.feed(line: $0) }
            events.append(event)
            if case .refused = event { break }
        }
        return (events, parser)
    }

    @Test("a plain head: status, headers with their values trimmed")
    func plain() {
        let (events, parser) = parse(["HTTP/1.1 200 OK\r\n", "Content-Type:  image/jpeg \r\n", "ETag: \"a\"\r\n", "\r\n"])
        #expect(events.last == .head(status: 200))
        #expect(parser.head?.value(of: "content-type") == "image/jpeg")
        #expect(parser.headers.count == 2)
    }

    @Test("1xx heads are interim; the final one replaces their headers")
    func interim() {
        let (events, parser) = parse(["HTTP/1.1 103 Early Hints\r\n", "Link: </a>\r\n", "\r\n",
                                      "HTTP/1.1 200 OK\r\n", "Content-Length: 3\r\n", "\r\n"])
        #expect(events[2] == .interim)
        #expect(events.last == .head(status: 200))
        #expect(parser.head?.value(of: "Link") == nil)
    }

    @Test("HTTP/2 status lines without a reason")
    func http2() {
        #expect(parse(["HTTP/2 204 \r\n", "\r\n"]).events.last == .head(status: 204))
        #expect(parse(["HTTP/1.1 404\r\n", "\r\n"]).events.last == .head(status: 404))
    }

    @Test("refused: controls in values, bad names, folded lines, bad status lines, junk first",
          arguments: [
            (["HTTP/1.1 200 OK\r\n", "X-A: a\u{0}b\r\n"], ResponseHeadParser.Refusal.badHeader),
            (["HTTP/1.1 200 OK\r\n", "X-A: a\rb\r\n"], .badHeader),
            (["HTTP/1.1 200 OK\r\n", "X-A: a\u{1b}b\r\n"], .badHeader),
            (["HTTP/1.1 200 OK\r\n", "Bad Name: x\r\n"], .badHeader),
            (["HTTP/1.1 200 OK\r\n", ": x\r\n"], .badHeader),
            (["HTTP/1.1 200 OK\r\n", "X-A: a\r\n", " folded\r\n"], .badHeader),
            (["HTTP/1.1 200 OK\r\n", "no colon\r\n"], .badHeader),
            (["HTTP/1.1 2000 OK\r\n"], .badStatusLine),
            (["HTTP/1.1 099 Low\r\n"], .badStatusLine),
            (["HTTP/1.1 abc\r\n"], .badStatusLine),
            (["HTTP/1.1\r\n"], .badStatusLine),
            (["Content-Length: 1\r\n"], .noStatusLine),
          ])
    func refused(lines: [String], refusal: ResponseHeadParser.Refusal) {
        #expect(parse(lines).events.last == .refused(refusal))
    }

    @Test("one unambiguous length: conflicting, non-numeric, or beside Transfer-Encoding is refused",
          arguments: [
            (["Content-Length: 5", "Content-Length: 6"], false),
            (["Content-Length: 5, 6"], false),
            (["Content-Length: -1"], false),
            (["Content-Length: 5x"], false),
            (["Content-Length: 5", "Transfer-Encoding: chunked"], false),
            (["Content-Length: 5", "Content-Length: 5"], true),
            (["Content-Length: 5, 5"], true),
            (["Transfer-Encoding: chunked"], true),
          ])
    func length(headers: [String], accepted: Bool) {
        let lines = ["HTTP/1.1 200 OK\r\n"] + headers.map { $0 + "\r\n" } + ["\r\n"]
        #expect(parse(lines).events.last == (accepted ? .head(status: 200) : .refused(.ambiguousLength)))
    }

    @Test("a head over the cap is refused as soon as it passes it")
    func tooLarge() {
        let lines = ["HTTP/1.1 200 OK\r\n"] + Array(repeating: "X-Flood: " + String(repeating: "a", count: 100) + "\r\n", count: 100)
        let (events, _) = parse(lines, maxBytes: 4096)
        #expect(events.last == .refused(.tooLarge))
        #expect(events.count < 100)
    }
}
