import Imaging
import Negotiation

/// Decides what a client gets for an image source and a variant: a
/// converted image, the original bytes, or a refusal. No I/O; the caller
/// holds a `ConversionLimiter` slot while this runs.
struct ImageConversion {
    let pipeline: ImagePipeline

    enum Decision {
        /// Serve the source as it is. `reason` says why it was not converted
        /// (for the log); `shortLived` when it should not be cached for long
        /// (a corrupt file, a timeout: a later try may do better).
        case original(reason: String?, shortLived: Bool)
        case converted(ImagePipeline.Output)
        /// Neither a conversion nor the original is fit for this client.
        case refuse(status: Int, reason: String)
    }

    /// The format to convert to, or nil when the original is what this
    /// variant wants. An animated GIF becomes the variant's animation format
    /// (an AVIF sequence, or animated WebP: `ImagePipeline.animate`; a GIF
    /// that does not loop forever always becomes WebP) and stays a GIF for
    /// a client with none. Another animation (WebP, APNG, an AVIF sequence)
    /// goes as it is to a client that shows it, and as its first frame,
    /// still, only to one that cannot.
    static func target(for variant: Variant, source: ImageFormat, animated: Bool = false) -> OutputFormat? {
        if animated {
            if source == .gif { return variant.animation.map(output) }
            if canDisplay(source, variant: variant) { return nil }
            return variant.still.map(output) ?? .jpeg
        }
        guard let still = variant.still else {
            // A client that named none of herd's formats may display none
            // of them: a JPEG made from an AVIF, WebP or HEIC source.
            return canDisplay(source, variant: .orig) ? nil : .jpeg
        }
        return canDisplay(source, as: still) ? nil : output(still)
    }

    /// Whether a source of `format` may be converted for `variant`, still
    /// or animated: decided from the first bytes, before the rest is read.
    static func mayConvert(_ format: ImageFormat, for variant: Variant) -> Bool {
        target(for: variant, source: format, animated: false) != nil || target(for: variant, source: format, animated: true) != nil
    }

    static func output(_ format: NegotiatedFormat) -> OutputFormat {
        switch format {
        case .avif: .avif
        case .webp: .webp
        case .jxl: .jxl
        }
    }

    /// Whether a source already is `format` (nothing to gain converting).
    private static func canDisplay(_ source: ImageFormat, as format: NegotiatedFormat) -> Bool {
        switch format {
        case .avif: source == .avif
        case .webp: source == .webp
        case .jxl: false
        }
    }

    /// Whether a client that asked for `variant` can display `format` as is.
    /// HEIC never goes to a browser as is: only Safari shows it, and no
    /// variant says a client is Safari.
    static func canDisplay(_ format: ImageFormat, variant: Variant) -> Bool {
        switch format {
        case .jpeg, .png, .gif: true
        // Every browser that takes AVIF takes WebP.
        case .webp: variant.accepts(.webp) || variant.accepts(.avif)
        case .avif: variant.accepts(.avif)
        case .heif: false
        }
    }

    /// The conversion's estimated peak memory, from the source's probed
    /// header (0 when there is nothing to convert or the header does not
    /// probe: the pipeline then fails the same way, at no memory cost).
    func estimatedPeakBytes(info: SourceInfo?, sourceBytes: Int, variant: Variant) -> Int {
        guard let info, let output = Self.target(for: variant, source: info.format, animated: info.isAnimated) else { return 0 }
        return MemoryEstimate.peakBytes(info: info, sourceBytes: sourceBytes, output: output, maxDimension: pipeline.maxDimension)
    }

    /// A conversion bigger than the whole memory budget never runs: the
    /// original where the client can show it, else a refusal.
    static func overBudget(format: ImageFormat, variant: Variant) -> Decision {
        canDisplay(format, variant: variant)
            ? .original(reason: "over_memory_budget", shortLived: false)
            : .refuse(status: 415, reason: "over_memory_budget")
    }

    func decide(source: [UInt8], format: ImageFormat, variant: Variant, animated: Bool = false) -> Decision {
        guard let target = Self.target(for: variant, source: format, animated: animated) else {
            return .original(reason: nil, shortLived: false)
        }
        do {
            let output = try pipeline.convert(source, to: target)
            // Never worse: a conversion that is not smaller is not served,
            // unless the client cannot display the original at all.
            if output.bytes.count >= source.count, Self.canDisplay(format, variant: variant) {
                return .original(reason: "not_smaller", shortLived: false)
            }
            return .converted(output)
        } catch {
            let displayable = Self.canDisplay(format, variant: variant)
            switch error.kind {
            case .unsupported where displayable:
                // Animations and the like: the original is correct, just not converted.
                return .original(reason: error.kind.rawValue, shortLived: false)
            case _ where displayable:
                return .original(reason: error.kind.rawValue, shortLived: true)
            case .timeout, .encodeFailed:
                return .refuse(status: 502, reason: error.kind.rawValue)
            default:
                return .refuse(status: 415, reason: error.kind.rawValue)
            }
        }
    }
}
