import Basics

/// Picks the image variant for a request, by the rules the nginx map
/// (`herd nginx-map`, generated from this code) follows too; both are
/// tested against `Tests/Fixtures/accept-vectors.tsv`:
///
/// - only an explicit `image/jxl`, `image/avif` or `image/webp` with q > 0
///   counts: `image/*` and `*/*` say nothing about JPEG XL, AV1 or WebP
///   support, so a client that sends only wildcards gets the original;
/// - among the formats a client names, the admin's order (`image.formats`)
///   decides: q only excludes (q=0), it does not rank. Browsers list them
///   all at q=1, and a rule nginx's `map` can evaluate with one regex per
///   format is what keeps the nginx cache key and herd's answer equal;
/// - a format not in the order is never chosen;
/// - malformed entries (bad or out-of-range q) are skipped, never guessed at.
public enum AcceptNegotiation {
    /// Longest Accept header looked at; the rest is ignored.
    static let maximumLength = 2048

    public static func variant(accept: String?, formats: FormatPreference) -> Variant {
        formats.variant(accepting: acceptedFormats(accept))
    }

    /// The formats of herd's that `accept` names with q > 0.
    public static func acceptedFormats(_ accept: String?) -> Set<NegotiatedFormat> {
        guard let accept, !accept.isEmpty else { return [] }
        var accepted: Set<NegotiatedFormat> = []
        for entry in accept.utf8.prefix(maximumLength).split(separator: UInt8(ascii: ",")) {
            guard let (type, q) = parse(entry), q > 0, type.hasPrefix("image/"),
                  let format = NegotiatedFormat(rawValue: String(type.dropFirst("image/".count))) else { continue }
            accepted.insert(format)
        }
        return accepted
    }

    /// "type/subtype;param=value;q=0.8" → (lowercased type, q), or nil if malformed.
    static func parse(_ entry: Substring.UTF8View.SubSequence) -> (String, Double)? {
        let parts = entry.split(separator: UInt8(ascii: ";"), omittingEmptySubsequences: false)
        guard let first = parts.first else { return nil }
        let type = String(decoding: first, as: UTF8.self).trimmingHTTPWhitespace().lowercased()
        guard type.split(separator: "/").count == 2 else { return nil }
        // Every q must be well-formed, and any q=0 excludes: the nginx map
        // can only say "all q parameters valid and non-zero", so herd says
        // the same (two q's are a broken header either way).
        var q = 1.0
        for parameter in parts.dropFirst() {
            let text = String(decoding: parameter, as: UTF8.self).trimmingHTTPWhitespace()
            guard text.lowercased().hasPrefix("q=") else { continue }
            guard let value = qValue(text.dropFirst(2)) else { return nil }
            q = min(q, value)
        }
        return (type, q)
    }

    /// RFC 9110 qvalue: `0[.ddd]` or `1[.000]`, at most three decimals;
    /// anything else (`.5`, `00.5`, `0.5000`, `1.5`) is malformed.
    static func qValue(_ text: Substring) -> Double? {
        let bytes = Array(text.utf8)
        guard let first = bytes.first, first == UInt8(ascii: "0") || first == UInt8(ascii: "1") else { return nil }
        if bytes.count == 1 { return first == UInt8(ascii: "1") ? 1 : 0 }
        guard bytes[1] == UInt8(ascii: "."), bytes.count <= 5 else { return nil }
        let decimals = bytes[2...]
        guard decimals.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        if first == UInt8(ascii: "1") { return decimals.allSatisfy { $0 == UInt8(ascii: "0") } ? 1 : nil }
        return Double(String(decoding: bytes, as: UTF8.self))
    }
}


/// Cloudflare's free plan ignores `Vary`, so in Cloudflare mode the variant
/// travels in the URL: `format=` and a variant's name (`avif`, `webp`,
/// `jxl`, `jxl-avif`, `jxl-webp`) whose formats are all enabled; anything
/// else means the original.
public enum FormatQuery {
    /// The variant named by `format=` and the query without it.
    public static func extract(from query: Substring?, formats: FormatPreference) -> (variant: Variant, remainingQuery: String?) {
        guard let query, !query.isEmpty else { return (.orig, nil) }
        var variant = Variant.orig
        var kept: [Substring] = []
        for pair in query.split(separator: "&", omittingEmptySubsequences: false) {
            if pair.lowercased().hasPrefix("format=") {
                variant = Variant(rawValue: pair.dropFirst("format=".count).lowercased())?.restricted(to: formats) ?? .orig
            } else {
                kept.append(pair)
            }
        }
        // Nothing left but an empty pair (`format=avif&`) is no query at all:
        // the origin must not be asked for `path?`.
        let remaining = kept.joined(separator: "&")
        return (variant, remaining.isEmpty ? nil : remaining)
    }
}
