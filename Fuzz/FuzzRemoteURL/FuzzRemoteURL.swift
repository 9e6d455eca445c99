// libFuzzer target: what herd reads from a signed remote URL before any
// network activity, and from a remote's answer — RemoteURL (and Location
// resolution), SignedProxyURL and CamoURL, PartialContent (206 checks),
// RemoteHead's type, ETag and date checks.
//
// Properties checked, besides "no crash":
//   - a parsed remote URL is http or https, has a host of letters, digits,
//     dots and hyphens (or an IPv6 literal), no credentials, no localhost,
//     prints as visible ASCII, and parses back to itself;
//   - a redirect resolved against it either parses to such a URL or is refused;
//   - every URL herd accepts survives Akkoma's signing and go-camo's two
//     encodings: sign → verify gives the same URL, and a changed signature
//     is refused;
//   - a Content-Range PartialContent accepts lies inside its total;
//   - a normalised media type is one lowercase `type/subtype`.

@testable import Media
import Settings
import Basics
@testable import Remote
import System

private func violated(_ property: String, _ input: String, _ details: String) -> Never {
    fatalError("FuzzRemoteURL: \(property) — input \(String(reflecting: input)): \(details)")
}

private let secret = Array("fuzz-secret-key-base".utf8)
private let base = RemoteURL("https://remote.example/a/b.jpg?x=1")!

private func checkParsed(_ url: RemoteURL, _ input: String) {
    guard url.scheme == "http" || url.scheme == "https" else { violated("scheme", input, url.scheme) }
    let host = url.host
    let isName = host.utf8.allSatisfy { ($0 >= 97 && $0 <= 122) || ($0 >= 48 && $0 <= 57) || $0 == 46 || $0 == 45 }
    let isLiteral = host.hasPrefix("[") && host.hasSuffix("]")
    guard !host.isEmpty, isName || isLiteral else { violated("host form", input, host) }
    guard host != "localhost", !host.hasSuffix(".localhost"), !host.hasSuffix(".localhost.") else { violated("localhost", input, host) }
    let absolute = url.absolute
    guard absolute.utf8.allSatisfy({ $0 > 0x20 && $0 < 0x7f }) else { violated("visible ASCII", input, absolute) }
    guard !absolute.dropFirst(url.scheme.count + 3).prefix(while: { $0 != "/" }).contains("@") else { violated("credentials", input, absolute) }
    guard RemoteURL(absolute) == url else { violated("parses back to itself", input, absolute) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)

    if let url = RemoteURL(text) {
        checkParsed(url, text)
        let signed = SignedProxyURL.sign(url.absolute, secret: secret, filename: url.basename.isEmpty ? nil : url.basename)
        do {
            let verified = try SignedProxyURL.verify(path: Substring(signed), secret: secret)
            guard verified.remoteURL == url.absolute else { violated("sign → verify", text, verified.remoteURL) }
        } catch {
            // A basename that is not a path segment herd would route is the only excuse.
            if case .wrongFilename = error { violated("sign → verify: wrong filename", text, signed) }
        }
        for hex in [true, false] {
            let camo = CamoURL.sign(url.absolute, key: secret, hex: hex)
            guard (try? CamoURL.verify(path: Substring(camo), key: secret)) == url.absolute else { violated("camo round trip", text, camo) }
            var forged = Array(camo.utf8)
            let index = "/camo/".utf8.count
            forged[index] = forged[index] == UInt8(ascii: "a") ? UInt8(ascii: "b") : UInt8(ascii: "a")
            if let accepted = try? CamoURL.verify(path: Substring(String(decoding: forged, as: UTF8.self)), key: secret) {
                violated("a changed digest is refused", text, accepted)
            }
        }
    }
    if let resolved = RemoteURL(RemoteURL.resolve(PercentEncoding.encodingNonASCII(text), against: base)) {
        checkParsed(resolved, text)
    }
    _ = try? SignedProxyURL.verify(path: Substring("/proxy/" + text), secret: secret)
    _ = try? CamoURL.verify(path: Substring("/camo/" + text), key: secret)

    let halves = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
    if halves.count == 2 {
        _ = PartialContent.answers(range: String(halves[0]), contentRange: String(halves[1]), contentLength: nil, contentType: nil)
    }
    if let range = PartialContent.parse(text) {
        guard range.first <= range.last, range.total.map({ range.last < $0 }) ?? true else { violated("a range inside its total", text, "\(range)") }
    }
    if let type = RemoteHead.mediaType(text) {
        guard type == type.lowercased(), type.split(separator: "/", omittingEmptySubsequences: false).count == 2,
              !type.contains(","), !type.contains(";"), !type.contains(" ") else { violated("one type/subtype", text, type) }
    }
    _ = RemoteHead.isEntityTag(text)
    _ = RemoteHead.isHTTPDate(text)
    return 0
}
