/// The fewest bytes a person cannot tell apart: the lowest quality at which
/// an encoding of the prepared pixels, decoded again, still scores the
/// target on SSIMULACRA 2, with the encoders' slower, smaller settings
/// (AVIF speed 6, WebP method 6, JPEG XL effort 7; JPEG progressive with
/// optimized Huffman tables, as herd always writes it). A bisection over
/// the quality: about seven encodes, decodes and scores per image. Easy
/// images end low, hard ones high, where one fixed quality gives the first
/// more bytes than anyone sees and the second fewer than they need.
public struct QualitySearch: Sendable {
    /// The SSIMULACRA 2 score to reach (`image.target_quality`).
    public var target: Double
    /// The settings searched from: herd's, made slower.
    public var settings: EncoderSettings

    public init(target: Double, settings: EncoderSettings) {
        self.target = target
        self.settings = Self.slower(settings)
    }

    /// herd's settings with the slow encoder options.
    public static func slower(_ settings: EncoderSettings) -> EncoderSettings {
        var slow = settings
        slow.avifSpeed = min(settings.avifSpeed, 6)
        slow.webpMethod = 6
        slow.jxlEffort = max(settings.jxlEffort, 7)
        return slow
    }

    public struct Result: Sendable {
        public var bytes: [UInt8]
        public var quality: Int
        public var score: Double
        /// Encodes (each also decoded and scored) the search took.
        public var encodes: Int
    }

    /// The qualities searched per format.
    static func range(_ format: OutputFormat) -> ClosedRange<Int>? {
        switch format {
        case .avif: 20...95
        case .webp, .jpeg: 30...98
        case .jxl: 30...99
        case .png: nil
        }
    }

    /// The smallest encoding at or above the target, or nil when the format
    /// has no quality to search (PNG) or even the highest misses it.
    /// `beforeEachEncode` runs before every encode (with its decode and
    /// score), `afterEachEncode` after it: background work waits for the CPU
    /// and takes the step's memory there, and gives the memory back after.
    public func search(_ image: RasterImage, format: OutputFormat, graphic: Bool,
                       beforeEachEncode: () throws(ImageError) -> Void = {}, afterEachEncode: () -> Void = {}) throws(ImageError) -> Result? {
        guard let range = Self.range(format) else { return nil }
        // What a JPEG shows of a transparent image: flattened on white, as
        // the encoder does; the score compares like with like.
        let reference = format == .jpeg ? image.flattened() : image
        var tried: [Int: (bytes: [UInt8], score: Double)] = [:]
        func attempt(_ quality: Int) throws(ImageError) -> (bytes: [UInt8], score: Double) {
            if let known = tried[quality] { return known }
            try beforeEachEncode()
            defer { afterEachEncode() }
            var settings = self.settings
            switch format {
            case .avif: settings.avifQuality = quality
            case .webp: settings.webpQuality = quality
            case .jpeg: settings.jpegQuality = quality
            case .jxl: settings.jxlQuality = quality
            case .png: break
            }
            let pipeline = ImagePipeline(settings: settings)
            let bytes = try pipeline.encode(image, to: format, graphic: graphic)
            let decoded = try Self.decode(bytes, format: format)
            let measured = SSIMULACRA2.score(original: reference, distorted: decoded) ?? -.infinity
            let score = measured.isFinite ? measured : -.infinity
            tried[quality] = (bytes, score)
            return (bytes, score)
        }
        guard try attempt(range.upperBound).score >= target else { return nil }
        var low = range.lowerBound, high = range.upperBound
        while low < high {
            let middle = (low + high) / 2
            if try attempt(middle).score >= target { high = middle } else { low = middle + 1 }
        }
        // Bytes mostly fall with the quality, not always: the smallest of
        // everything tried that reaches the target.
        let best = tried.filter { $0.value.score >= target }.min { $0.value.bytes.count < $1.value.bytes.count }!
        return Result(bytes: best.value.bytes, quality: best.key, score: best.value.score, encodes: tried.count)
    }

    /// Any image herd reads or writes, decoded (the first frame of an
    /// animation), without resizing: to score it.
    public static func decodeAny(_ bytes: [UInt8]) throws(ImageError) -> RasterImage {
        // A JPEG XL codestream (FF 0A) or container ("JXL " box).
        if bytes.starts(with: [0xff, 0x0a]) || bytes.starts(with: [0, 0, 0, 0x0c, 0x4a, 0x58, 0x4c, 0x20]) {
            return try JXLDecoder.decode(bytes)
        }
        var result: Swift.Result<RasterImage, ImageError>!
        bytes.withUnsafeBytes { raw in
            do throws(ImageError) {
                let info = try Probe.run(raw, limits: ImageLimits())
                result = .success(try Decode.run(raw, info: info, maxDimension: 0, firstFrame: true))
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }

    /// An encoding decoded again, as a browser would show it.
    static func decode(_ bytes: [UInt8], format: OutputFormat) throws(ImageError) -> RasterImage {
        if format == .jxl { return try JXLDecoder.decode(bytes) }
        var result: Swift.Result<RasterImage, ImageError>!
        bytes.withUnsafeBytes { raw in
            do throws(ImageError) {
                let info = try Probe.run(raw, limits: ImageLimits())
                result = .success(try Decode.run(raw, info: info, maxDimension: 0))
            } catch {
                result = .failure(error)
            }
        }
        return try result.get()
    }
}
