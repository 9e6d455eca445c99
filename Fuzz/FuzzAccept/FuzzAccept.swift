// libFuzzer target: Accept negotiation and Cloudflare's `format=` query.
//
// Properties checked on every input (a violation is a crash libFuzzer keeps):
//   - deterministic;
//   - for every order of image.formats tried, the variant is what the order
//     gives for the formats the header names, never names a format the
//     order leaves out, and no formats at all is always `orig`;
//   - ASCII case does not matter (types and `q=` are case-insensitive);
//   - spaces and tabs around `,` and `;` do not matter, nor does the order of
//     the entries (q only excludes, it does not rank);
//   - a format is accepted only when the header names `image/<format>`;
//   - `format=`: the variant comes from the last `format=` pair, only when
//     its formats are enabled, and it is removed from the query while every
//     other pair is kept in order; what is left is never an empty query.
//
// With HERD_FUZZ_ACCEPT_NGINX=1 in the environment it also compares the
// formats herd reads with the nginx map's regexes (NginxVariantMap, what
// `herd nginx-map` writes), evaluated here with ICU on the header read as
// Latin-1, byte for byte like PCRE. Off by default: the two rules may differ
// on inputs no browser sends, and a known difference would stop every run.
import Foundation
import Negotiation

private let orders: [FormatPreference] = [
    .standard, FormatPreference([.webp]), FormatPreference([.avif]), FormatPreference([]),
    FormatPreference([.jxl, .avif, .webp]), FormatPreference([.webp, .avif]), FormatPreference([.jxl]),
    FormatPreference([.avif, .jxl, .webp]),
]

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
    let accepted = AcceptNegotiation.acceptedFormats(accept)
    guard accepted == AcceptNegotiation.acceptedFormats(accept) else { violated("deterministic", accept, "\(accepted)") }
    let lower = asciiLowercased(bytes)
    for format in accepted where !contains(lower, "image/" + format.rawValue) {
        violated("a format only if named", accept, format.rawValue)
    }
    for order in orders {
        let variant = AcceptNegotiation.variant(accept: accept, formats: order)
        guard variant == order.variant(accepting: accepted) else { violated("the order decides", accept, "\(order): \(variant)") }
        guard variant.accepted.allSatisfy(order.contains) else { violated("only configured formats", accept, "\(order): \(variant)") }
        guard !order.order.isEmpty || variant == .orig else { violated("no formats gives orig", accept, "\(variant)") }
        if let still = variant.still, order.order.first(where: accepted.contains) != still {
            violated("the first accepted format in the order wins", accept, "\(order): \(variant)")
        }
    }

    // Rewritings that must not change the answer, while herd reads the whole header.
    guard bytes.count <= lookedAt else { return }

    if let nginx = nginxAccepted(bytes), nginx != accepted {
        violated("same formats as the nginx map", accept, "herd \(accepted), nginx \(nginx)")
    }

    let upper = asciiUppercased(bytes)
    guard AcceptNegotiation.acceptedFormats(upper) == accepted else { violated("ASCII case-insensitive", accept, "uppercased differs") }

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
        let spacedAnswer = AcceptNegotiation.acceptedFormats(spacedText)
        guard spacedAnswer == accepted else {
            violated("whitespace around , and ; is ignored", accept, "\(accepted), spaced \(String(reflecting: spacedText)) \(spacedAnswer)")
        }
    }

    let entries = bytes.split(separator: UInt8(ascii: ","), omittingEmptySubsequences: false)
    let reversed = String(decoding: Array(entries.reversed().joined(separator: [UInt8(ascii: ",")])), as: UTF8.self)
    let reversedAnswer = AcceptNegotiation.acceptedFormats(reversed)
    guard reversedAnswer == accepted else {
        violated("entry order is ignored", accept, "\(accepted), reversed \(String(reflecting: reversed)) \(reversedAnswer)")
    }
}

/// The nginx map's regexes, one per format (NginxVariantMap.acceptPattern).
private let nginxRegexes: [(NegotiatedFormat, NSRegularExpression)]? = {
    guard ProcessInfo.processInfo.environment["HERD_FUZZ_ACCEPT_NGINX"] == "1" else { return nil }
    return NegotiatedFormat.allCases.map { format in
        (format, try! NSRegularExpression(pattern: NginxVariantMap.acceptPattern(for: format), options: [.caseInsensitive]))
    }
}()

private func nginxAccepted(_ bytes: [UInt8]) -> Set<NegotiatedFormat>? {
    guard let nginxRegexes else { return nil }
    // PCRE in nginx sees bytes: one Latin-1 character per byte keeps ICU from
    // reading multi-byte sequences as one character.
    let header = String(bytes.map { Character(Unicode.Scalar($0)) })
    let range = NSRange(header.startIndex..., in: header)
    return Set(nginxRegexes.filter { $0.1.firstMatch(in: header, range: range) != nil }.map(\.0))
}

private func checkFormatQuery(_ query: String) {
    for formats in orders {
        let (variant, remaining) = FormatQuery.extract(from: query[...], formats: formats)
        // The model: `&`-separated pairs (as Characters, like herd), the last
        // `format=` pair decides, every other pair is kept in order.
        var expected = Variant.orig
        var kept: [Substring] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
            guard pair.lowercased().hasPrefix("format=") else { kept.append(pair); continue }
            let named = Variant(rawValue: pair.dropFirst(7).lowercased())
            expected = named.map { $0.accepted.allSatisfy(formats.contains) ? $0 : .orig } ?? .orig
        }
        if query.isEmpty { kept = [] }
        let joined = kept.joined(separator: "&")
        let expectedRemaining = joined.isEmpty ? nil : joined
        guard variant == expected, remaining == expectedRemaining else {
            violated("format= model", query, "got \(variant) \(String(reflecting: remaining)), expected \(expected) \(String(reflecting: expectedRemaining))")
        }
        guard variant.accepted.allSatisfy(formats.contains) else { violated("format= only when enabled", query, "\(variant)") }
        // What is forwarded has no format= left (extracting again finds
        // nothing), and is never empty (the origin would get `path?`).
        if let remaining {
            guard !remaining.isEmpty else { violated("no empty query is forwarded", query, "\"\"") }
            let (second, rest) = FormatQuery.extract(from: remaining[...], formats: formats)
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
