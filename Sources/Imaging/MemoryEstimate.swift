/// How much memory one conversion will need at its peak, from what the
/// header says (before a pixel is decoded), so that a worker admits only the
/// conversions its memory budget can hold.
///
/// The peak is the larger of two stages, because the decoded raster is freed
/// before the encoder runs:
/// - decode and fit: the decoded raster (a byte per channel, plus one of
///   slack for the decoders' row buffers) and, when the image is scaled down,
///   the rescaler's ARGB copy of it and its output (ARGB and raster);
/// - encode: the encoder's own buffers with the raster it reads, per output
///   pixel, by output format (libaom's AV1 encoder holds several frames'
///   worth of planes).
/// The factors are measured peaks (VmHWM of `herd convert` with Debian's
/// libraries, 10–40 MP sources) rounded up; `make bench-memory` prints the
/// measured peak beside this estimate for each source format and output.
public enum MemoryEstimate {
    /// Bytes per decoded pixel: one per channel, plus one.
    static func decodeFactor(_ info: SourceInfo) -> Int {
        // HEIF: the decoding child's planes and RGB image (resident while
        // the worker reads them) besides the worker's copy.
        if info.format == .heif { return 16 }
        return info.hasAlpha ? 5 : 4
    }

    /// Bytes per output pixel while encoding.
    static func encodeFactor(_ output: OutputFormat) -> Int {
        switch output {
        case .avif: 18
        case .webp: 6
        case .jpeg: 7
        case .png: 6
        case .jxl: 52
        }
    }

    /// Fixed costs of any conversion (codec contexts, tables).
    static let overhead = 8 << 20

    /// The estimated peak in bytes of converting a source of `sourceBytes`
    /// bytes described by `info` to `output`, fitted within `maxDimension`.
    public static func peakBytes(info: SourceInfo, sourceBytes: Int, output: OutputFormat, maxDimension: Int) -> Int {
        let decoded = info.format == .jpeg
            ? Decode.jpegScaledSize(width: info.width, height: info.height, maxDimension: maxDimension)
            : (width: info.width, height: info.height)
        let decodedPixels = decoded.width * decoded.height
        var outputPixels = info.pixelCount
        if maxDimension > 0, max(info.width, info.height) > maxDimension {
            let scale = Double(maxDimension) / Double(max(info.width, info.height))
            outputPixels = Int((Double(info.width) * scale).rounded(.up)) * Int((Double(info.height) * scale).rounded(.up))
        }
        if info.isAnimated, info.format == .gif, output == .webp || output == .avif {
            // giflib's indexed frames (a byte a pixel), the canvas and the
            // frame being encoded, and the encoder's frames in flight
            // (WebPAnimEncoder's candidates; aom's look-ahead queue).
            return sourceBytes + info.frames * info.pixelCount + info.pixelCount * 8
                + outputPixels * (output == .avif ? 80 : 40) + overhead
        }
        if info.isAnimated, info.format == .webp || info.format == .png, output == .webp || output == .avif {
            // The decoder's canvas, its previous canvas and the frame it
            // decodes (RGBA each: WebPAnimDecoder's, or APNGFile's with the
            // frame's PNG), herd's copy and the fitted frame; then the
            // encoder's frames in flight, as for a GIF.
            return sourceBytes + info.pixelCount * 20 + outputPixels * (output == .avif ? 80 : 40) + overhead
        }
        if output == .jxl, info.format == .jpeg, !info.isAnimated, outputPixels == info.pixelCount {
            // Lossless recompression: no pixels decoded; libjxl holds the
            // coefficients and its own tables (measured 253 MB RSS for a
            // 12 MP photo: ~19 bytes a pixel).
            return sourceBytes + info.pixelCount * 20 + overhead
        }
        let scaled = outputPixels < decodedPixels
        let decodeStage = decodedPixels * decodeFactor(info) + (scaled ? decodedPixels * 4 + outputPixels * 8 : 0)
        let encodeStage = outputPixels * encodeFactor(output)
        return sourceBytes + max(decodeStage, encodeStage) + overhead
    }
}
