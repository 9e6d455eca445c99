import Foundation
import Negotiation
import Testing

/// The shared Accept table (Tests/Fixtures/accept-vectors.tsv).
struct AcceptVector: CustomTestStringConvertible, Sendable {
    let name: String
    let accept: String?
    let expected: Variant
    let expectedWithoutAVIF: Variant
    var testDescription: String { name }

    static let all: [AcceptVector] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/accept-vectors.tsv")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        return text.split(separator: "\n").compactMap { line in
            guard !line.hasPrefix("#") else { return nil }
            let fields = line.split(separator: "\t", omittingEmptySubsequences: false).map(String.init)
            guard fields.count == 4, let expected = Variant(rawValue: fields[2]), let without = Variant(rawValue: fields[3]) else { return nil }
            let accept: String? = fields[1] == "<none>" ? nil : fields[1] == "<empty>" ? "" : fields[1]
            return AcceptVector(name: fields[0], accept: accept, expected: expected, expectedWithoutAVIF: without)
        }
    }()
}

@Suite("Accept negotiation")
struct NegotiationTests {
    @Test("the table is there and covers the browsers")
    func tableLoaded() {
        #expect(AcceptVector.all.count >= 25)
        for name in ["chrome-image", "firefox-92-image", "firefox-128-image", "safari-16-image", "safari-17-image", "curl", "no-accept"] {
            #expect(AcceptVector.all.contains { $0.name == name }, "\(name) missing")
        }
    }

    @Test("every vector, AVIF and WebP on", arguments: AcceptVector.all)
    func allEnabled(vector: AcceptVector) {
        #expect(AcceptNegotiation.variant(accept: vector.accept, enabled: .init(avif: true, webp: true)) == vector.expected)
    }

    @Test("every vector, AVIF off", arguments: AcceptVector.all)
    func avifDisabled(vector: AcceptVector) {
        #expect(AcceptNegotiation.variant(accept: vector.accept, enabled: .init(avif: false, webp: true)) == vector.expectedWithoutAVIF)
    }

    @Test("both off: always the original", arguments: AcceptVector.all)
    func bothDisabled(vector: AcceptVector) {
        #expect(AcceptNegotiation.variant(accept: vector.accept, enabled: .init(avif: false, webp: false)) == .orig)
    }

    @Test("format= picks the variant in Cloudflare mode and is removed from the query")
    func formatQuery() {
        let on = AcceptNegotiation.Enabled(avif: true, webp: true)
        #expect(FormatQuery.extract(from: "format=avif", enabled: on) == (.avif, nil))
        #expect(FormatQuery.extract(from: "v=3&format=webp&x=1", enabled: on) == (.webp, "v=3&x=1"))
        #expect(FormatQuery.extract(from: "v=3", enabled: on) == (.orig, "v=3"))
        #expect(FormatQuery.extract(from: "format=gif", enabled: on) == (.orig, nil))
        #expect(FormatQuery.extract(from: "format=avif", enabled: .init(avif: false, webp: true)) == (.orig, nil))
        #expect(FormatQuery.extract(from: nil, enabled: on) == (.orig, nil))
    }
}
