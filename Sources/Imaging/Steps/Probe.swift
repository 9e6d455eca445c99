import CAVIF
import CTurboJPEG
import CWebP

/// Caps applied before and during a conversion.
public struct ImageLimits: Sendable {
    /// Largest source accepted, in bytes.
    public var maxSourceBytes: Int
    /// Largest width × height accepted, read from the header before decoding.
    public var maxPixels: Int
    /// Most frames accepted in an animation.
    public var maxFrames: Int
    /// Most pixels over all of an animation's frames (frames × canvas):
    /// giflib holds every frame's pixels while an animation is converted.
    public var maxAnimationPixels: Int
    /// The formats herd decodes (`image.decode`): an admin's switch for a
    /// decoder with a known flaw (libheif, libde265, giflib…). Another
    /// format is refused here, before any of its library's code runs.
    public var decodable: Set<ImageFormat> = Set(ImageFormat.allCases)

    public init(maxSourceBytes: Int = 16 << 20, maxPixels: Int = 40_000_000, maxFrames: Int = 1_000,
                maxAnimationPixels: Int = 100_000_000) {
        self.maxSourceBytes = maxSourceBytes
        self.maxPixels = maxPixels
        self.maxFrames = maxFrames
        self.maxAnimationPixels = maxAnimationPixels
    }
}

/// What the header says about a source, before any pixel is decoded.
public struct SourceInfo: Sendable, Equatable {
    public var format: ImageFormat
    public var width: Int
    public var height: Int
    public var frames: Int
    /// EXIF orientation, 1…8 (1 = as stored).
    public var orientation: Int
    public var hasAlpha: Bool

    public var pixelCount: Int { width * height }
    public var isAnimated: Bool { frames > 1 }
}

/// Step 1: identify the source and check the caps from its header alone.
public enum Probe {
    public static func run(_ bytes: UnsafeRawBufferPointer, limits: ImageLimits) throws(ImageError) -> SourceInfo {
        guard bytes.count <= limits.maxSourceBytes else {
            throw ImageError(.tooLarge, "\(bytes.count) bytes over the \(limits.maxSourceBytes)-byte cap")
        }
        guard let format = ImageFormat.sniff(bytes) else { throw ImageError(.unsupported, "not an image herd reads") }
        guard limits.decodable.contains(format) else {
            throw ImageError(.decoderOff, "decoding \(format.rawValue) is turned off (image.decode)")
        }
        let info: SourceInfo
        switch format {
        case .jpeg: info = try jpeg(bytes)
        case .png: info = try png(bytes)
        case .gif: info = try gif(bytes, limits: limits)
        case .webp: info = try webp(bytes)
        case .avif: info = try avif(bytes)
        case .heif: info = try heif(bytes)
        }
        guard info.width > 0, info.height > 0 else { throw ImageError(.corrupt, "zero-sized image") }
        guard info.width <= 65_535, info.height <= 65_535, info.pixelCount <= limits.maxPixels else {
            throw ImageError(.tooManyPixels, "\(info.width)×\(info.height) over the \(limits.maxPixels)-pixel cap")
        }
        guard info.frames <= limits.maxFrames else {
            throw ImageError(.tooManyFrames, "\(info.frames) frames over the cap of \(limits.maxFrames)")
        }
        guard info.frames * info.pixelCount <= limits.maxAnimationPixels || !info.isAnimated else {
            throw ImageError(.tooManyPixels, "\(info.frames) frames of \(info.width)×\(info.height) over the "
                             + "\(limits.maxAnimationPixels)-pixel cap over all frames")
        }
        return info
    }

    private static func jpeg(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> SourceInfo {
        let handle = try TurboJPEG(decompress: true)
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        let status = tjDecompressHeader3(handle.raw, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), UInt(bytes.count),
                                         &width, &height, &subsampling, &colorspace)
        guard status == 0 else { throw ImageError(.corrupt, "JPEG header: \(handle.lastError)") }
        let metadata = JPEGSegments.read(bytes)
        return SourceInfo(format: .jpeg, width: Int(width), height: Int(height), frames: 1,
                          orientation: metadata.orientation, hasAlpha: false)
    }

    private static func png(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> SourceInfo {
        guard let header = PNGChunks.read(bytes) else { throw ImageError(.corrupt, "PNG header unreadable") }
        let colorType = bytes.count > 25 ? bytes[25] : 0
        return SourceInfo(format: .png, width: header.width, height: header.height, frames: header.isAnimated ? max(1, header.frames) : 1,
                          orientation: 1, hasAlpha: colorType == 4 || colorType == 6 || colorType == 3)
    }

    private static func gif(_ bytes: UnsafeRawBufferPointer, limits: ImageLimits) throws(ImageError) -> SourceInfo {
        guard let summary = GIFStructure.read(bytes, stopAfter: limits.maxFrames) else {
            throw ImageError(.corrupt, "GIF header unreadable")
        }
        // Decoded at its own size, a frame larger than the canvas would
        // escape the pixel cap; browsers clip it anyway.
        guard summary.framesWithinCanvas else { throw ImageError(.corrupt, "a GIF frame extends beyond the canvas") }
        return SourceInfo(format: .gif, width: summary.width, height: summary.height, frames: max(1, summary.frames),
                          orientation: 1, hasAlpha: true)
    }

    private static func webp(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> SourceInfo {
        var features = WebPBitstreamFeatures()
        let status = herd_webp_get_features(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count, &features)
        guard status == VP8_STATUS_OK else { throw ImageError(.corrupt, "WebP header: status \(status.rawValue)") }
        // An animation's frames are counted (the caps on frames and on
        // pixels over all frames apply, as to a GIF's); its canvas may show
        // transparency where a frame has alpha or leaves the canvas uncovered.
        if features.has_animation != 0 {
            let layout = WebPAnimation.layout(bytes, canvasWidth: Int(features.width), canvasHeight: Int(features.height))
            return SourceInfo(format: .webp, width: Int(features.width), height: Int(features.height),
                              frames: max(2, layout.frames), orientation: 1, hasAlpha: features.has_alpha != 0 || layout.mayBeTransparent)
        }
        return SourceInfo(format: .webp, width: Int(features.width), height: Int(features.height),
                          frames: 1, orientation: 1, hasAlpha: features.has_alpha != 0)
    }

    /// Sizes from the container (ispe, after rotation); libheif applies the
    /// orientation when decoding, so herd's is 1.
    private static func heif(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> SourceInfo {
        let file = try HEIFFile(bytes)
        return SourceInfo(format: .heif, width: file.width, height: file.height, frames: 1, orientation: 1, hasAlpha: file.hasAlpha)
    }

    private static func avif(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> SourceInfo {
        let decoder = try AVIFDecoderHandle(bytes)
        let image = decoder.raw.pointee.image!.pointee
        return SourceInfo(format: .avif, width: Int(image.width), height: Int(image.height),
                          frames: Int(decoder.raw.pointee.imageCount), orientation: 1, hasAlpha: image.alphaPlane != nil || decoder.raw.pointee.alphaPresent != 0)
    }
}

// MARK: - C handle owners

/// Owns a TurboJPEG handle.
final class TurboJPEG {
    let raw: tjhandle

    init(decompress: Bool) throws(ImageError) {
        guard let handle = decompress ? tjInitDecompress() : tjInitCompress() else {
            throw ImageError(.unsupported, "tjInit failed")
        }
        raw = handle
    }

    var lastError: String { String(cString: tjGetErrorStr2(raw)) }

    deinit { tjDestroy(raw) }
}

/// Owns an avifDecoder that has parsed a file from memory (the memory must
/// outlive it: the caller keeps the source bytes alive).
final class AVIFDecoderHandle {
    let raw: UnsafeMutablePointer<avifDecoder>

    init(_ bytes: UnsafeRawBufferPointer, threads: Int = 1) throws(ImageError) {
        guard let decoder = avifDecoderCreate() else { throw ImageError(.unsupported, "avifDecoderCreate failed") }
        raw = decoder
        raw.pointee.maxThreads = Int32(threads)
        raw.pointee.strictFlags = avifStrictFlags(AVIF_STRICT_DISABLED.rawValue)
        let status = avifDecoderSetIOMemory(raw, bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), bytes.count)
        guard status == AVIF_RESULT_OK else { throw ImageError(.corrupt, "AVIF: \(String(cString: avifResultToString(status)))") }
        let parsed = avifDecoderParse(raw)
        guard parsed == AVIF_RESULT_OK else { throw ImageError(.corrupt, "AVIF: \(String(cString: avifResultToString(parsed)))") }
    }

    deinit { avifDecoderDestroy(raw) }
}
