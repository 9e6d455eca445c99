/// The formats herd may send instead of the original, when a client names
/// them in `Accept`.
public enum NegotiatedFormat: String, Sendable, CaseIterable {
    case jxl, avif, webp

    /// Whether herd writes animations in this format (JPEG XL animations
    /// are not written: an animated GIF goes to a JXL-only client as is).
    public var animates: Bool { self != .jxl }
}

/// The admin's order of preference among the formats a client accepts
/// (`image.formats`): the first one the client names wins. A format not in
/// the list is never sent.
public struct FormatPreference: Sendable, Equatable, CustomStringConvertible {
    public let order: [NegotiatedFormat]

    /// Duplicates after the first are dropped.
    public init(_ order: [NegotiatedFormat]) {
        var seen: Set<NegotiatedFormat> = []
        self.order = order.filter { seen.insert($0).inserted }
    }

    /// Herd's default: AVIF, then WebP.
    public static let standard = FormatPreference([.avif, .webp])

    /// The default order with the two historical switches applied
    /// (`image.enable_avif`, `image.enable_webp`).
    public init(avif: Bool, webp: Bool) {
        self.init([avif ? .avif : nil, webp ? .webp : nil].compactMap { $0 })
    }

    public func contains(_ format: NegotiatedFormat) -> Bool { order.contains(format) }

    /// The variant for a client that accepts exactly `accepted` (of herd's
    /// formats): the first accepted format in this order for stills, and
    /// the first accepted format herd animates for animations.
    public func variant(accepting accepted: Set<NegotiatedFormat>) -> Variant {
        let still = order.first { accepted.contains($0) }
        let animation = order.first { accepted.contains($0) && $0.animates }
        return Variant(still: still, animation: animation) ?? .orig
    }

    /// Every variant this order can give: the values nginx's map may produce.
    public var possibleVariants: [Variant] {
        var variants: [Variant] = []
        for mask in 0..<(1 << order.count) {
            let accepted = Set(order.enumerated().filter { mask & (1 << $0.offset) != 0 }.map(\.element))
            let variant = variant(accepting: accepted)
            if !variants.contains(variant) { variants.append(variant) }
        }
        return variants
    }

    public var description: String { order.map(\.rawValue).joined(separator: ",") }
}

/// The image variants nginx keys its media cache on: what a client is
/// known to display beyond JPEG, PNG and GIF. Mostly one format; with JPEG
/// XL preferred, also the format its animations go in (herd writes no
/// animated JXL), e.g. `jxl-avif`.
public enum Variant: String, Sendable, CaseIterable {
    case avif, webp, jxl
    case jxlAVIF = "jxl-avif"
    case jxlWebP = "jxl-webp"
    case orig

    /// The format stills are sent in; nil for the original.
    public var still: NegotiatedFormat? {
        switch self {
        case .avif: .avif
        case .webp: .webp
        case .jxl, .jxlAVIF, .jxlWebP: .jxl
        case .orig: nil
        }
    }

    /// The format animations are sent in; nil keeps an animated GIF a GIF.
    public var animation: NegotiatedFormat? {
        switch self {
        case .avif, .jxlAVIF: .avif
        case .webp, .jxlWebP: .webp
        case .jxl, .orig: nil
        }
    }

    /// Every format this client is known to accept.
    public var accepted: [NegotiatedFormat] { [still, animation].compactMap { $0 }.reduce(into: []) { if !$0.contains($1) { $0.append($1) } } }

    public func accepts(_ format: NegotiatedFormat) -> Bool { still == format || animation == format }

    /// The variant for a still format and an animation format, nil where
    /// there is none (an animation format that is also the still format, or
    /// none at all, is the still format's own variant).
    init?(still: NegotiatedFormat?, animation: NegotiatedFormat?) {
        switch (still, animation) {
        case (nil, _): return nil
        case (.avif?, _): self = .avif
        case (.webp?, _): self = .webp
        case (.jxl?, nil): self = .jxl
        case (.jxl?, .avif?): self = .jxlAVIF
        case (.jxl?, .webp?): self = .jxlWebP
        case (.jxl?, .jxl?): self = .jxl
        }
    }

    /// This variant if every format it names is in `formats`, else the
    /// original (nginx's map and herd's configuration disagree: herd never
    /// sends a format the admin did not enable).
    public func restricted(to formats: FormatPreference) -> Variant {
        accepted.allSatisfy(formats.contains) ? self : .orig
    }
}
