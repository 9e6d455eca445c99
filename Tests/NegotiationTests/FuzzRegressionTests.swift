import Negotiation
import Testing

/// Inputs the fuzz targets (Fuzz/, `make fuzz`) found, kept as plain tests.
@Suite("Fuzz regressions")
struct FuzzRegressionTests {
    /// fuzz-accept: a query left with nothing but an empty pair once
    /// `format=` is taken out was forwarded as `path?`.
    @Test("format= removal never leaves an empty query", arguments: [
        ("format=avif&", Variant.avif),
        ("&format=webp", .webp),
        ("format=\t\u{FFFD})  &", .orig),
    ])
    func formatQueryLeavesNoEmptyQuery(query: String, variant: Variant) {
        let on = FormatPreference.standard
        #expect(FormatQuery.extract(from: query[...], formats: on) == (variant, nil))
    }

    @Test("empty pairs beside other pairs are kept as sent")
    func emptyPairsBesideOthers() {
        let on = FormatPreference.standard
        #expect(FormatQuery.extract(from: "a=1&&format=avif", formats: on) == (.avif, "a=1&"))
        #expect(FormatQuery.extract(from: "&&format=avif", formats: on) == (.avif, "&"))
    }
}
