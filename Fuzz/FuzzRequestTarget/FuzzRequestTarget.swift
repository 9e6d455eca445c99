// libFuzzer target: request URI validation (RequestTarget) and the route
// table (Router).
//
// An independent model of the rule in RequestTarget's documentation decides
// accept or refuse for every input, and herd must agree. On top of that, a URI
// herd accepts must hold, read byte by byte:
//   - origin form (`/…`), at most maxLength bytes, no raw control byte, space,
//     DEL, `\` or `#`;
//   - every `%` starts a valid escape that decodes to no control byte;
//   - in the path: no encoded `/` or `\`, no segment that percent-decodes to
//     `.` or `..`, no empty segment except a trailing one;
//   - path + `?` + query is exactly the input;
//   - `forwardable` is printable ASCII only and is the input with exactly the
//     unsafe bytes %-encoded;
// and the route must follow from the path's prefix.

@testable import Media
import Settings

private let maxLength = 2048

private func violated(_ property: String, _ input: String, _ details: String) -> Never {
    fatalError("FuzzRequestTarget: \(property) — input \(String(reflecting: input)): \(details)")
}

private func hexValue(_ byte: UInt8) -> UInt8? {
    switch byte {
    case 0x30...0x39: byte - 0x30
    case 0x41...0x46: byte - 0x41 + 10
    case 0x61...0x66: byte - 0x61 + 10
    default: nil
    }
}

/// Percent-decodes once; nil if an escape is malformed.
private func percentDecoded(_ bytes: ArraySlice<UInt8>) -> [UInt8]? {
    var output: [UInt8] = []
    var index = bytes.startIndex
    while index < bytes.endIndex {
        if bytes[index] == UInt8(ascii: "%") {
            guard index + 2 < bytes.endIndex, let high = hexValue(bytes[index + 1]), let low = hexValue(bytes[index + 2]) else { return nil }
            output.append(high << 4 | low)
            index += 3
        } else {
            output.append(bytes[index])
            index += 1
        }
    }
    return output
}

/// The rule, written from RequestTarget's documentation rather than its code:
/// nil if acceptable, else a short reason (for the crash message).
private func modelRefusal(_ bytes: [UInt8], maxLength: Int) -> String? {
    if bytes.count > maxLength { return "too long" }
    if bytes.first != UInt8(ascii: "/") { return "not origin form" }
    if bytes.contains(where: { $0 <= 0x20 || $0 == 0x7F || $0 == UInt8(ascii: "\\") || $0 == UInt8(ascii: "#") }) {
        return "raw control byte, space, backslash or #"
    }
    guard let decoded = percentDecoded(bytes[...]) else { return "bad escape" }
    if decoded.contains(where: { $0 < 0x20 || $0 == 0x7F }) { return "encoded control byte" }
    let pathEnd = bytes.firstIndex(of: UInt8(ascii: "?")) ?? bytes.count
    let segments = bytes[1..<pathEnd].split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false)
    for (position, segment) in segments.enumerated() {
        if segment.isEmpty {
            if position == segments.count - 1 { continue }
            return "empty segment"
        }
        guard let plain = percentDecoded(segment) else { return "bad escape" }
        if plain.contains(UInt8(ascii: "/")) || plain.contains(UInt8(ascii: "\\")) { return "encoded separator" }
        if plain == [0x2E] || plain == [0x2E, 0x2E] { return "dot segment" }
    }
    return nil
}

private let unsafeForCurl: Set<UInt8> = Set("\"<>{}|^`".utf8)

private func checkAccepted(_ target: RequestTarget, raw: String, bytes: [UInt8]) {
    guard target.raw == raw else { violated("raw is the input", raw, String(reflecting: target.raw)) }
    guard bytes.first == UInt8(ascii: "/"), bytes.count <= maxLength else { violated("origin form, length", raw, "accepted") }
    let rebuilt = String(target.path) + (target.query.map { "?" + $0 } ?? "")
    guard rebuilt == raw else { violated("path?query is the input", raw, String(reflecting: rebuilt)) }
    guard (target.query != nil) == bytes.contains(UInt8(ascii: "?")) else { violated("query iff ?", raw, "\(String(describing: target.query))") }
    guard !target.path.utf8.contains(UInt8(ascii: "?")) else { violated("path has no ?", raw, String(target.path)) }

    let pathBytes = Array(target.path.utf8)
    for segment in pathBytes.dropFirst().split(separator: UInt8(ascii: "/"), omittingEmptySubsequences: false) {
        guard let plain = percentDecoded(segment) else { violated("escapes are valid", raw, "segment \(segment)") }
        if plain == [0x2E] || plain == [0x2E, 0x2E] { violated("no dot segment after decoding", raw, "segment \(segment)") }
        if plain.contains(UInt8(ascii: "/")) || plain.contains(UInt8(ascii: "\\")) { violated("no encoded separator", raw, "segment \(segment)") }
    }
    if let decoded = percentDecoded(bytes[...]), decoded.contains(where: { $0 < 0x20 || $0 == 0x7F }) {
        violated("no control byte, raw or encoded", raw, "accepted")
    }

    // What goes to libcurl: printable ASCII, the input with unsafe bytes %XX.
    let forward = Array(target.forwardable.utf8)
    guard forward.allSatisfy({ $0 > 0x20 && $0 < 0x7F && !unsafeForCurl.contains($0) }) else {
        violated("forwardable is safe printable ASCII", raw, target.forwardable)
    }
    var expected: [UInt8] = []
    for byte in bytes {
        if byte >= 0x80 || unsafeForCurl.contains(byte) {
            expected += Array("%".utf8) + Array(String(byte, radix: 16, uppercase: true).utf8)
        } else {
            expected.append(byte)
        }
    }
    guard forward == expected else { violated("forwardable encodes exactly the unsafe bytes", raw, target.forwardable) }
}

private func checkRoute(_ path: Substring, raw: String) {
    let route = Router.route(path: path)
    guard Router.route(path: path) == route else { violated("routing is deterministic", raw, route.label) }
    func longer(_ prefix: String) -> Bool { path.hasPrefix(prefix) && path.count > prefix.count }
    switch route {
    case .health:
        guard path == "/health" else { violated("health is exactly /health", raw, route.label) }
    case .metrics:
        guard path == "/metrics" else { violated("metrics is exactly /metrics", raw, route.label) }
    case .media(.mastodonMedia):
        let rest = path.dropFirst("/system/".count)
        guard path.hasPrefix("/system/"), Router.mastodonSystemFolders.contains(where: { rest.hasPrefix($0) && rest.count > $0.count }) else {
            violated("mastodon media lies under a /system/ media folder", raw, route.label)
        }
    case .media(.mastodonMediaProxy):
        guard longer("/media_proxy/") else { violated("media proxy under /media_proxy/", raw, route.label) }
    case .media(.akkomaMedia):
        guard longer("/media/") else { violated("akkoma media under /media/", raw, route.label) }
    case .media(.akkomaProxy):
        guard longer("/proxy/"), path.dropFirst("/proxy/".count).contains("/") else {
            violated("akkoma proxy: two or more segments under /proxy/", raw, route.label)
        }
    case .media(.misskeyProxy):
        guard longer("/proxy/"), !path.dropFirst("/proxy/".count).contains("/") else {
            violated("misskey proxy: one segment under /proxy/", raw, route.label)
        }
    case .media(.camo):
        guard longer("/camo/") else { violated("camo under /camo/", raw, route.label) }
    case .notFound:
        if path == "/health" || path == "/metrics" || longer("/media_proxy/") || longer("/media/") || longer("/proxy/")
            || longer("/camo/") {
            violated("a served prefix is routed", raw, route.label)
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    // REQUEST_URI reaches herd as a String; invalid UTF-8 is repaired first.
    let raw = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    let bytes = Array(raw.utf8)

    let model = modelRefusal(bytes, maxLength: maxLength)
    let target: RequestTarget
    do {
        target = try RequestTarget(validating: raw, maxLength: maxLength)
    } catch {
        guard model != nil else { violated("accepted by the rule", raw, "refused: \(error.status) \(error.reason)") }
        guard (error.status == 414) == (bytes.count > maxLength), error.status == 400 || error.status == 414 else {
            violated("414 exactly when too long, else 400", raw, "\(error.status) \(error.reason)")
        }
        // The route table is total: it must not trap on anything either.
        _ = Router.route(path: raw[...])
        return 0
    }
    if let model { violated("refused by the rule", raw, "accepted, the rule says \(model)") }
    checkAccepted(target, raw: raw, bytes: bytes)
    checkRoute(target.path, raw: raw)

    // The length cap: one byte less is a 414, the exact length passes.
    do {
        _ = try RequestTarget(validating: raw, maxLength: bytes.count - 1)
        violated("maxLength is a hard cap", raw, "accepted with maxLength \(bytes.count - 1)")
    } catch {
        guard error.status == 414 else { violated("over the cap is 414", raw, "\(error.status) \(error.reason)") }
    }
    guard (try? RequestTarget(validating: raw, maxLength: bytes.count)) == target else {
        violated("the exact length passes", raw, "refused with maxLength \(bytes.count)")
    }
    return 0
}
