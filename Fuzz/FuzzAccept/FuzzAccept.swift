// libFuzzer target: Accept negotiation and Cloudflare's `format=` query.
//
// Properties checked on every input (a violation is a crash libFuzzer keeps):
//   - deterministic;
//   - a switched-off format is never chosen, both off is always `orig`, and
//     switching a format off only ever moves the answer down (avif → webp → orig);
//   - ASCII case does not matter (types and `q=` are case-insensitive);
//   - spaces and tabs around `,` and `;` do not matter, nor does the order of
//     the entries (q only excludes, it does not rank);
//   - `avif`/`webp` only when the header names `image/avif`/`image/webp`;
//   - `format=`: the variant comes from the last `format=` pair, only when
//     enabled, and it is removed from the query while every other pair is kept
//     in order; what is left is never an empty query.
//
// With HERD_FUZZ_ACCEPT_NGINX=1 in the environment it also compares herd's
// answer with the shipped nginx map (deploy/nginx/http/image-variant.conf,
// its two regexes evaluated here with ICU on the header read as Latin-1,
// byte for byte like PCRE). Off by default, because the two rules are known
// to differ on inputs no browser sends, and a known difference would stop
// every run:
//   - nginx takes `image/avif; q=0` (a blank after `;`) as accepting AVIF:
//     `[ \t]*` gives the blank back and `(?!q=)[^;,]*` reads ` q=0` as some
//     other parameter; herd says q=0;
//   - herd reads `q=.5`, `q=00.5` as 0.5 where RFC 9110 and nginx refuse the
//     entry, and with two q parameters (`q=0;q=0.5`) keeps the last one
//     where nginx refuses the entry.
import Foundation
import Negotiation

private let both = AcceptNegotiation.Enabled(avif: true, webp: true)
private let noAVIF = AcceptNegotiation.Enabled(avif: false, webp: true)
private let noWebP = AcceptNegotiation.Enabled(avif: true, webp: false)
private let neither = AcceptNegotiation.Enabled(avif: false, webp: false)

/// How much of a header herd looks at (AcceptNegotiation.maximumLength):
/// the rewritten headers must stay under it for the comparisons to hold.
private let lookedAt = 2048

private func violated(_ property: String, _ input: String, _ details: String) -> Never {
    fatalError("FuzzAccept: \(property) — input \(String(reflecting: input)): \(details)")
}

private func asciiUppercased(_ bytes: [UInt8]) -> String {
    String(decoding: bytes.map { (0x61...0x7A).contains($0) ? $0 - 0x20 : $0 }, as: UTF8.self)
}

private func asciiLowercased(_ bytes: [UInt8]) -> [UInt8] {
    bytes.map { (0x41...0x5A).contains($0) ? $0 + 0x20 : $0 }
}

private func contains(_ haystack: [UInt8], _ needle: String) -> Bool {
    let needle = Array(needle.utf8)
    guard haystack.count >= needle.count else { return false }
    for start in 0...(haystack.count - needle.count) where haystack[start..<(start + needle.count)].elementsEqual(needle) {
        return true
    }
    return false
}

private func checkAccept(_ accept: String) {
    let bytes = Array(accept.utf8)
    let answer = AcceptNegotiation.variant(accept: accept, enabled: both)
    let again = AcceptNegotiation.variant(accept: accept, enabled: both)
    guard answer == again else { violated("deterministic", accept, "\(answer) then \(again)") }

    let withoutAVIF = AcceptNegotiation.variant(accept: accept, enabled: noAVIF)
    let withoutWebP = AcceptNegotiation.variant(accept: accept, enabled: noWebP)
    let withNeither = AcceptNegotiation.variant(accept: accept, enabled: neither)
    guard withNeither == .orig else { violated("both off gives orig", accept, "\(withNeither)") }
    guard withoutAVIF != .avif else { violated("avif off is never avif", accept, "avif") }
    guard withoutWebP != .webp else { violated("webp off is never webp", accept, "webp") }
    switch answer {
    case .avif:
        guard withoutWebP == .avif else { violated("webp off keeps avif", accept, "\(withoutWebP)") }
    case .webp:
        guard withoutAVIF == .webp, withoutWebP == .orig else {
            violated("webp answer: avif off keeps it, webp off drops it", accept, "\(withoutAVIF), \(withoutWebP)")
        }
    case .orig:
        guard withoutAVIF == .orig, withoutWebP == .orig else {
            violated("orig stays orig when a format is switched off", accept, "\(withoutAVIF), \(withoutWebP)")
        }
    }

    let lower = asciiLowercased(bytes)
    if answer == .avif, !contains(lower, "image/avif") { violated("avif only if named", accept, "avif") }
    if withoutAVIF == .webp, !contains(lower, "image/webp") { violated("webp only if named", accept, "webp") }

    // Rewritings that must not change the answer, while herd reads the whole header.
    guard bytes.count <= lookedAt else { return }

    if let nginx = nginxVariant(bytes), nginx != answer {
        violated("same variant as the nginx map", accept, "herd \(answer), nginx \(nginx)")
    }

    let upper = asciiUppercased(bytes)
    let upperAnswer = AcceptNegotiation.variant(accept: upper, enabled: both)
    guard upperAnswer == answer else { violated("ASCII case-insensitive", accept, "\(answer), uppercased \(upperAnswer)") }

    var spaced: [UInt8] = []
    spaced.reserveCapacity(bytes.count * 3)
    for byte in bytes {
        switch byte {
        case UInt8(ascii: ","): spaced += Array(" \t, ".utf8)
        case UInt8(ascii: ";"): spaced += Array("\t ;\t".utf8)
        default: spaced.append(byte)
        }
    }
    if spaced.count <= lookedAt {
        let spacedText = String(decoding: spaced, as: UTF8.self)
        let spacedAnswer = AcceptNegotiation.variant(accept: spacedText, enabled: both)
        guard spacedAnswer == answer else {
            violated("whitespace around , and ; is ignored", accept, "\(answer), spaced \(String(reflecting: spacedText)) \(spacedAnswer)")
        }
    }

    let entries = bytes.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
    let reversed = String(decoding: Array(entries.reversed().joined(separator: [UInt8(ascii: ",")])), as: UTF8.self)
    let reversedAnswer = AcceptNegotiation.variant(accept: reversed, enabled: both)
    guard reversedAnswer == answer else {
        violated("entry order is ignored", accept, "\(answer), reversed \(String(reflecting: reversed)) \(reversedAnswer)")
    }
}

/// The two `map $http_accept` regexes of deploy/nginx/http/image-variant.conf.
private let nginxRegexes: (avif: NSRegularExpression, webp: NSRegularExpression)? = {
    guard ProcessInfo.processInfo.environment["HERD_FUZZ_ACCEPT_NGINX"] == "1" else { return nil }
    func map(_ type: String) -> NSRegularExpression {
        let pattern = #"(^|,)[ \t]*image/"# + type
            + #"[ \t]*(;[ \t]*((?!q=)[^;,]*|q=(1(\.0{0,3})?|0\.(?=\d{0,2}[1-9])\d{1,3})[ \t]*))*(,|$)"#
        return try! NSRegularExpression(pattern: pattern, options: [.caseInsensitive])
    }
    return (map("avif"), map("webp"))
}()

private func nginxVariant(_ bytes: [UInt8]) -> Variant? {
    guard let nginxRegexes else { return nil }
    // PCRE in nginx sees bytes: one Latin-1 character per byte keeps ICU from
    // reading multi-byte sequences as one character.
    let header = String(bytes.map { Character(Unicode.Scalar($0)) })
    let range = NSRange(header.startIndex..., in: header)
    if nginxRegexes.avif.firstMatch(in: header, range: range) != nil { return .avif }
    if nginxRegexes.webp.firstMatch(in: header, range: range) != nil { return .webp }
    return .orig
}

private func checkFormatQuery(_ query: String) {
    for enabled in [both, noAVIF, noWebP, neither] {
        let (variant, remaining) = FormatQuery.extract(from: query[...], enabled: enabled)
        // The model: `&`-separated pairs (as Characters, like herd), the last
        // `format=` pair decides, every other pair is kept in order.
        var expected = Variant.orig
        var kept: [Substring] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
            guard pair.lowercased().hasPrefix("format=") else { kept.append(pair); continue }
            let value = pair.dropFirst(7).lowercased()
            expected = value == "avif" && enabled.avif ? .avif : value == "webp" && enabled.webp ? .webp : .orig
        }
        if query.isEmpty { kept = [] }
        let joined = kept.joined(separator: "&")
        let expectedRemaining = joined.isEmpty ? nil : joined
        guard variant == expected, remaining == expectedRemaining else {
            violated("format= model", query, "got \(variant) \(String(reflecting: remaining)), expected \(expected) \(String(reflecting: expectedRemaining))")
        }
        if variant == .avif, !enabled.avif { violated("format=avif only when enabled", query, "avif") }
        if variant == .webp, !enabled.webp { violated("format=webp only when enabled", query, "webp") }
        // What is forwarded has no format= left (extracting again finds
        // nothing), and is never empty (the origin would get `path?`).
        if let remaining {
            guard !remaining.isEmpty else { violated("no empty query is forwarded", query, "\"\"") }
            let (second, rest) = FormatQuery.extract(from: remaining[...], enabled: enabled)
            guard second == .orig, rest == remaining else {
                violated("format= removal is idempotent", query, "second pass \(second) \(String(reflecting: rest))")
            }
        }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
    checkAccept(text)
    checkFormatQuery(text)
    return 0
}
