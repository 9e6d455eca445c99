// libFuzzer target: the origin's response head (ResponseHeadParser), fed the
// input split into lines at LF (LF kept) as libcurl's header callback hands
// them over, until the parser answers the head or refuses it — what
// UpstreamClient does.
//
// Each line's event is compared with a model written from the parser's
// documentation (status line `HTTP/… NNN[ reason]` with NNN 100–599; header
// lines `token ":" OWS value OWS` with no control byte but tab in the value;
// obs-fold and anything else refused; 1xx heads interim; a head over
// maxBytes refused). Properties of an accepted head:
//   - its status is the one announced, 200–599;
//   - its headers are exactly the header lines since the last status line,
//     in order, names as sent, values trimmed, none holding CR, LF, NUL or
//     another control byte but tab;
//   - its length has one answer: Content-Length values all the same digits,
//     no Content-Length beside Transfer-Encoding, and `contentLength` is that
//     number when the first value is a plain one that fits an Int;
//   - deterministic.
@testable import Upstream

private let maxBytes = 4096

private func violated(_ property: String, _ lines: [[UInt8]], _ details: String) -> Never {
    let text = lines.map { String(reflecting: String(decoding: $0, as: UTF8.self)) }.joined(separator: ", ")
    fatalError("FuzzResponseHead: \(property) — lines [\(text)]: \(details)")
}

private func isToken(_ byte: UInt8) -> Bool {
    (0x30...0x39).contains(byte) || (0x41...0x5A).contains(byte) || (0x61...0x7A).contains(byte) || Array("!#$%&'*+-.^_`|~".utf8).contains(byte)
}

private func trimmed(_ bytes: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
    var slice = bytes
    while let first = slice.first, first == 0x20 || first == 0x09 { slice = slice.dropFirst() }
    while let last = slice.last, last == 0x20 || last == 0x09 { slice = slice.dropLast() }
    return slice
}

/// `HTTP/<anything without a space> NNN` then the end or a space.
private func modelStatus(_ content: ArraySlice<UInt8>) -> Int? {
    guard let space = content.firstIndex(of: 0x20) else { return nil }
    let digits = content[(space + 1)...].prefix(3)
    guard digits.count == 3, digits.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
    let after = content.index(space, offsetBy: 4)
    if after < content.endIndex, content[after] != 0x20 { return nil }
    let code = digits.reduce(0) { $0 * 10 + Int($1 - 0x30) }
    return (100...599).contains(code) ? code : nil
}

private func ambiguous(_ headers: [(name: [UInt8], value: [UInt8])]) -> Bool {
    func named(_ header: [UInt8], _ name: String) -> Bool {
        header.count == name.utf8.count && zip(header, name.utf8).allSatisfy { ($0 | 0x20) == ($1 | 0x20) && (($1 | 0x20) >= 0x61 || $0 == $1) }
    }
    let lengths = headers.filter { named($0.name, "content-length") }
        .flatMap { $0.value.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false).map { Array(trimmed($0)) } }
    guard !lengths.isEmpty else { return false }
    if headers.contains(where: { named($0.name, "transfer-encoding") }) { return true }
    if lengths.contains(where: { $0.isEmpty || !$0.allSatisfy { (0x30...0x39).contains($0) } }) { return true }
    return Set(lengths).count > 1
}

private struct Model {
    var bytes = 0
    var status: Int?
    var headers: [(name: [UInt8], value: [UInt8])] = []

    mutating func feed(_ line: [UInt8]) -> ResponseHeadParser.Event {
        bytes += line.count
        if bytes > maxBytes { return .refused(.tooLarge) }
        var content = line[...]
        if content.last == 0x0A { content = content.dropLast() }
        if content.last == 0x0D { content = content.dropLast() }
        if content.starts(with: "HTTP/".utf8) {
            guard let code = modelStatus(content) else { return .refused(.badStatusLine) }
            status = code
            headers = []
            return .needMore
        }
        guard let status else { return .refused(.noStatusLine) }
        if content.isEmpty {
            if status < 200 { return .interim }
            return ambiguous(headers) ? .refused(.ambiguousLength) : .head(status: status)
        }
        guard let colon = content.firstIndex(of: UInt8(ascii: ":")) else { return .refused(.badHeader) }
        let name = content[..<colon]
        let value = trimmed(content[(colon + 1)...])
        guard !name.isEmpty, name.allSatisfy(isToken), value.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }) else {
            return .refused(.badHeader)
        }
        headers.append((Array(name), Array(value)))
        return .needMore
    }
}

private func parse(_ lines: [[UInt8]]) -> (events: [ResponseHeadParser.Event], parser: ResponseHeadParser) {
    var parser = ResponseHeadParser(maxBytes: maxBytes)
    var events: [ResponseHeadParser.Event] = []
    for line in lines {
        let event = line.withUnsafeBytes { parser.feed(line: $0) }
        events.append(event)
        switch event {
        case .head, .refused: return (events, parser)
        case .needMore, .interim: continue
        }
    }
    return (events, parser)
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = Array(UnsafeBufferPointer(start: data, count: size))
    var lines: [[UInt8]] = []
    var start = 0
    for index in input.indices where input[index] == 0x0A {
        lines.append(Array(input[start...index]))
        start = index + 1
    }
    if start < input.count { lines.append(Array(input[start...])) }

    let (events, parser) = parse(lines)
    let (eventsAgain, _) = parse(lines)
    guard events == eventsAgain else { violated("deterministic", lines, "\(events) then \(eventsAgain)") }

    var model = Model()
    for (index, event) in events.enumerated() {
        let expected = model.feed(lines[index])
        guard event == expected else { violated("line \(index) is \(expected)", lines, "parser said \(event)") }
    }
    guard parser.bytes == model.bytes else { violated("bytes counted", lines, "\(parser.bytes) vs \(model.bytes)") }

    guard case .head(let status)? = events.last else { return 0 }
    guard let head = parser.head, head.status == status, (200...599).contains(status) else {
        violated("the head has the announced final status", lines, "\(String(describing: parser.head?.status)) for \(status)")
    }
    guard head.headers.count == model.headers.count else { violated("headers are the lines", lines, "\(head.headers.count) of \(model.headers.count)") }
    for (header, line) in zip(head.headers, model.headers) {
        guard header.name == String(decoding: line.name, as: UTF8.self), header.value == String(decoding: line.value, as: UTF8.self) else {
            violated("header as sent", lines, "\(String(reflecting: header.name)): \(String(reflecting: header.value))")
        }
        guard !header.name.isEmpty, header.name.utf8.allSatisfy(isToken) else { violated("header name is a token", lines, header.name) }
        guard header.value.utf8.allSatisfy({ $0 == 0x09 || ($0 >= 0x20 && $0 != 0x7F) }),
              header.value.utf8.first != 0x20, header.value.utf8.first != 0x09,
              header.value.utf8.last != 0x20, header.value.utf8.last != 0x09 else {
            violated("header value is trimmed and has no control byte", lines, String(reflecting: header.value))
        }
    }
    guard !ambiguous(model.headers) else { violated("one answer for the length", lines, "accepted") }
    if let first = head.value(of: "Content-Length"), let number = Int(first), number >= 0 {
        guard head.contentLength == number else { violated("contentLength is the header's", lines, "\(String(describing: head.contentLength))") }
    }
    return 0
}
