/// Whether a 206 answers the Range herd sent: one well-formed
/// `Content-Range: bytes FIRST-LAST/TOTAL` inside its total, the length it
/// says, and the bytes that were asked for. Anything else from an origin or
/// a remote is refused (502) rather than handed to a client as its range.
/// Pure: text in, a verdict out.
enum PartialContent {
    static func answers(range requested: String, contentRange: String?, contentLength: Int?, contentType: String?) -> Bool {
        guard let specs = requestedSpecs(requested) else { return false }
        if specs.count > 1 {
            // Several ranges: a multipart body whose parts herd does not read.
            return contentRange == nil && contentType?.lowercased().hasPrefix("multipart/byteranges") == true
        }
        guard let contentRange, let given = parse(contentRange) else { return false }
        if let length = contentLength, length != given.last - given.first + 1 { return false }
        switch specs[0] {
        case .from(let first, let last):
            return given.first == first && (last.map { given.last <= $0 } ?? true)
        case .suffix(let count):
            guard let total = given.total else { return false }
            return given.last == total - 1 && given.first == max(0, total - count)
        }
    }

    enum Spec: Equatable {
        case from(Int, Int?)
        case suffix(Int)
    }

    /// `bytes=a-b, c-, -n` → specs; nil when it is not a byte range set.
    static func requestedSpecs(_ value: String) -> [Spec]? {
        let trimmed = value.trimmingHTTPWhitespace()
        guard trimmed.lowercased().hasPrefix("bytes=") else { return nil }
        var specs: [Spec] = []
        for part in trimmed.dropFirst(6).split(separator: ",") {
            let spec = part.trimmingHTTPWhitespace()
            let bounds = spec.split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
            guard bounds.count == 2 else { return nil }
            if bounds[0].isEmpty {
                guard let count = number(bounds[1]), count > 0 else { return nil }
                specs.append(.suffix(count))
            } else {
                guard let first = number(bounds[0]) else { return nil }
                if bounds[1].isEmpty {
                    specs.append(.from(first, nil))
                } else {
                    guard let last = number(bounds[1]), last >= first else { return nil }
                    specs.append(.from(first, last))
                }
            }
        }
        return specs.isEmpty ? nil : specs
    }

    /// `bytes FIRST-LAST/TOTAL` (TOTAL may be `*`), inside its total.
    static func parse(_ value: String) -> (first: Int, last: Int, total: Int?)? {
        let trimmed = value.trimmingHTTPWhitespace()
        guard trimmed.hasPrefix("bytes ") else { return nil }
        let parts = trimmed.dropFirst(6).split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
        guard parts.count == 2 else { return nil }
        let bounds = parts[0].split(separator: "-", maxSplits: 1, omittingEmptySubsequences: false)
        guard bounds.count == 2, let first = number(bounds[0]), let last = number(bounds[1]), first <= last else { return nil }
        if parts[1] == "*" { return (first, last, nil) }
        guard let total = number(parts[1]), last < total else { return nil }
        return (first, last, total)
    }

    /// Decimal digits only, at most 18 (no sign, no overflow).
    private static func number(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 18, text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 }) else { return nil }
        return Int(text)
    }
}
