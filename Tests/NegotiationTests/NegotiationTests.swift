import Foundation
import Negotiation
import Testing

/// The shared Accept table (Tests/Fixtures/accept-vectors.tsv): one row
/// per Accept header, one expected variant per `image.formats` order.
struct AcceptVector: CustomTestStringConvertible, Sendable {
    let name: String
    let accept: String?
    /// The expected variant for each order the table has a column for.
    let expected: [(formats: FormatPreference, variant: Variant)]
    var testDescription: String { name }

    static let all: [AcceptVector] = {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Fixtures/accept-vectors.tsv")
        let text = (try? String(contentsOf: url, encoding: .utf8)) ?? ""
        let rows = text.split(separator: "\n").filter { !$0.hasPrefix("#") }
            .map { $0.split(separator: "\t", omittingEmptySubsequences: false).map(String.init) }
        guard let header = rows.first, header.count > 2 else { return [] }
        let orders = header.dropFirst(2).map { column in
            FormatPreference(column.split(separator: ",").compactMap { NegotiatedFormat(rawValue: String($0)) })
        }
        return rows.dropFirst().compactMap { fields in
            guard fields.count == header.count else { return nil }
            let variants = fields.dropFirst(2).compactMap(Variant.init(rawValue:))
            guard variants.count == orders.count else { return nil }
            let accept: String? = fields[1] == "<none>" ? nil : fields[1] == "<empty>" ? "" : fields[1]
            return AcceptVector(name: fields[0], accept: accept, expected: Array(zip(orders, variants)))
        }
    }()
}

@Suite("Accept negotiation")
struct NegotiationTests {
    @Test("the table is there and covers the browsers and the orders")
    func tableLoaded() {
        #expect(AcceptVector.all.count >= 40)
        for name in ["chrome-image", "firefox-92-image", "firefox-128-image", "safari-16-image", "safari-17-image",
                     "safari-18-image", "chromium-156-image", "jxl-only", "curl", "no-accept"] {
            #expect(AcceptVector.all.contains { $0.name == name }, "\(name) missing")
        }
        let orders = AcceptVector.all.first?.expected.map(\.formats) ?? []
        #expect(orders.contains(.standard))
        #expect(orders.contains(FormatPreference([.jxl, .avif, .webp])))
    }

    @Test("every vector, every order in the table", arguments: AcceptVector.all)
    func everyOrder(vector: AcceptVector) {
        for (formats, variant) in vector.expected {
            #expect(AcceptNegotiation.variant(accept: vector.accept, formats: formats) == variant, "order \(formats)")
        }
    }

    @Test("no formats: always the original", arguments: AcceptVector.all)
    func noFormats(vector: AcceptVector) {
        #expect(AcceptNegotiation.variant(accept: vector.accept, formats: FormatPreference([])) == .orig)
    }

    @Test("a variant never names a format the order leaves out", arguments: AcceptVector.all)
    func onlyConfiguredFormats(vector: AcceptVector) {
        let orders: [[NegotiatedFormat]] = [[.jxl], [.avif], [.webp], [.jxl, .webp], [.webp, .jxl], [.avif, .jxl], [.webp, .avif, .jxl]]
        for order in orders.map(FormatPreference.init) {
            let variant = AcceptNegotiation.variant(accept: vector.accept, formats: order)
            #expect(variant.accepted.allSatisfy(order.contains), "order \(order): \(variant)")
            #expect(order.possibleVariants.contains(variant))
        }
    }

    @Test("the historical switches take their format out of the order")
    func switches() {
        #expect(FormatPreference(avif: true, webp: true) == .standard)
        #expect(FormatPreference(avif: false, webp: true).order == [.webp])
        #expect(FormatPreference(avif: false, webp: false).order.isEmpty)
        #expect(FormatPreference([.webp, .webp, .avif]).order == [.webp, .avif])
    }

    @Test("format= picks the variant in Cloudflare mode and is removed from the query")
    func formatQuery() {
        let on = FormatPreference.standard
        #expect(FormatQuery.extract(from: "format=avif", formats: on) == (.avif, nil))
        #expect(FormatQuery.extract(from: "v=3&format=webp&x=1", formats: on) == (.webp, "v=3&x=1"))
        #expect(FormatQuery.extract(from: "v=3", formats: on) == (.orig, "v=3"))
        #expect(FormatQuery.extract(from: "format=gif", formats: on) == (.orig, nil))
        #expect(FormatQuery.extract(from: "format=avif", formats: FormatPreference([.webp])) == (.orig, nil))
        #expect(FormatQuery.extract(from: "format=jxl", formats: on) == (.orig, nil))
        #expect(FormatQuery.extract(from: "format=jxl-avif", formats: FormatPreference([.jxl, .avif, .webp])) == (.jxlAVIF, nil))
        #expect(FormatQuery.extract(from: "format=jxl-avif", formats: FormatPreference([.jxl, .webp])) == (.orig, nil))
        #expect(FormatQuery.extract(from: nil, formats: on) == (.orig, nil))
    }

    @Test("variants: the still and animation formats each names")
    func variants() {
        #expect(Variant.jxlAVIF.still == .jxl && Variant.jxlAVIF.animation == .avif)
        #expect(Variant.jxl.animation == nil)
        #expect(Variant.webp.accepted == [.webp])
        #expect(Variant.orig.accepted.isEmpty)
        #expect(FormatPreference([.jxl, .avif, .webp]).possibleVariants.count == 6)
        #expect(FormatPreference.standard.possibleVariants == [.orig, .avif, .webp])
    }
}
