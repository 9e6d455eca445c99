/// Small text helpers for HTTP header names and values, without Foundation.
/// `@inlinable` so that callers in other modules get them specialized: a
/// generic call across modules goes through the runtime's metadata lookup
/// (measured on the request path with perf).
extension StringProtocol {
    /// Without leading and trailing spaces and tabs (HTTP's OWS).
    @inlinable
    public func trimmingHTTPWhitespace() -> String {
        var slice = self[...]
        while let first = slice.first, first == " " || first == "\t" { slice = slice.dropFirst() }
        while let last = slice.last, last == " " || last == "\t" { slice = slice.dropLast() }
        return String(slice)
    }
}

extension String {
    /// Whether `needle` (lowercase ASCII) occurs in this string, ignoring
    /// ASCII case: for directives in header values, without lowercasing a
    /// copy (or Foundation's locale-aware search).
    @inlinable
    public func containsLowercaseASCII(_ needle: StaticString) -> Bool {
        var text = self
        text.makeContiguousUTF8()
        return text.utf8.withContiguousStorageIfAvailable { haystack in
            let wanted = UnsafeBufferPointer(start: needle.utf8Start, count: needle.utf8CodeUnitCount)
            guard haystack.count >= wanted.count else { return false }
            for start in 0...(haystack.count - wanted.count) {
                var index = 0
                while index < wanted.count {
                    var byte = haystack[start + index]
                    if byte >= 0x41, byte <= 0x5a { byte |= 0x20 }
                    guard byte == wanted[index] else { break }
                    index += 1
                }
                if index == wanted.count { return true }
            }
            return false
        } ?? false
    }

    /// ASCII case-insensitive equality, as header names compare.
    @inlinable
    public func caseInsensitiveEquals(_ other: String) -> Bool {
        guard utf8.count == other.utf8.count else { return false }
        var left = utf8.makeIterator()
        var right = other.utf8.makeIterator()
        while let a = left.next(), let b = right.next() {
            if a == b { continue }
            let lower = a | 0x20
            guard lower == b | 0x20, lower >= UInt8(ascii: "a"), lower <= UInt8(ascii: "z") else { return false }
        }
        return true
    }
}
