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
    /// variant wants. An animated GIF becomes an AVIF sequence for a client
    /// that takes AVIF (animated WebP when the GIF does not loop forever:
    /// `ImagePipeline.animate`), animated WebP for one that takes WebP, and
    /// stays a GIF for the rest.
    /// Another animation (WebP, APNG, an AVIF sequence) goes as it is to a
    /// client that shows it, and as its first frame, still, only to one
    /// that cannot.
    static func target(for variant: Variant, source: ImageFormat, animated: Bool = false) -> OutputFormat? {
        if animated {
            if source == .gif { return variant == .orig ? nil : variant == .avif ? .avif : .webp }
            if canDisplay(source, variant: variant) { return nil }
            return variant == .orig ? .jpeg : .webp
        }
        return switch variant {
        case .avif: source == .avif ? nil : .avif
        case .webp: source == .webp ? nil : .webp
        // A client that named neither format may not display them: give it
        // a JPEG made from an AVIF or WebP source.
        case .orig: source == .avif || source == .webp ? .jpeg : nil
        }
    }

    /// Whether a client that asked for `variant` can display `format` as is.
    static func canDisplay(_ format: ImageFormat, variant: Variant) -> Bool {
        switch format {
        case .jpeg, .png, .gif: true
        case .webp: variant != .orig
        case .avif: variant == .avif
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

/// A fast non-cryptographic hash for ETags of sources without one (FNV-1a 64).
enum SourceHash {
    static func fnv1a(_ bytes: [UInt8]) -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        bytes.withUnsafeBufferPointer { buffer in
            for byte in buffer {
                hash ^= UInt64(byte)
                hash &*= 0x0000_0100_0000_01b3
            }
        }
        return hash
    }

    static func fnv1a(_ text: String) -> UInt64 { fnv1a(Array(text.utf8)) }

    static func hex(_ value: UInt64) -> String {
        let text = String(value, radix: 16)
        return String(repeating: "0", count: 16 - text.count) + text
    }
}
