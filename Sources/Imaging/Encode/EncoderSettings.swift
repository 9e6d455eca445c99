#if canImport(Glibc)
import Glibc
#endif

/// How herd encodes. Part of every converted response's ETag (`version`),
/// so changing a setting changes the ETag and caches refill.
public struct EncoderSettings: Sendable, Equatable {
    public enum AVIFCodec: String, Sendable, CaseIterable {
        case aom, rav1e, svt
    }

    /// 1–100, as cwebp -q.
    public var webpQuality: Int = 80
    /// 1–100, as cjpeg -quality.
    public var jpegQuality: Int = 80
    /// 1–100, mapped to AV1 quantizers as libavif 1.x maps its quality.
    public var avifQuality: Int = 60
    /// 0 (slowest) – 10 (fastest), libavif's speed.
    public var avifSpeed: Int = 8
    public var avifCodec: AVIFCodec = .aom
    /// 1–100, as cjxl -q (mapped to a Butteraugli distance): lossy JPEG XL
    /// from pixels. JPEG sources are recompressed losslessly instead.
    public var jxlQuality: Int = 80
    /// libjxl effort, 1 (fast) – 9 (small), as cjxl -e. 3: `make
    /// bench-convert`'s sweep found it 4× faster than 7 from pixels, at
    /// the same SSIM in fewer bytes; recompressing a JPEG does not change
    /// with it (3–7 within 0.1%).
    public var jxlEffort: Int = 3
    /// cwebp -m, 0 (fast) – 6 (small). 2: the knee of `make bench-convert`'s
    /// sweep on 1280-px photos at q80: 0.69× method 4's time for 3% more
    /// bytes at the same SSIM (3 and 4 cost 1.5× for 3% fewer).
    public var webpMethod: Int = 2
    /// Threads one encoder may use. 1 keeps the CPU limiter's count honest.
    public var threads: Int = 1
    /// Try lossless WebP for graphics up to this many pixels and keep it if smaller.
    public var webpLosslessMaxPixels: Int = 512 * 512

    public init() {}

    /// Bumped when the pipeline changes what it writes for the same settings.
    /// 2: animated GIFs become animated WebP. 3: JPEG XL. 4: sRGB ICC profiles dropped.
    public static let pipelineVersion = 4

    /// A short stable string for ETags.
    public var version: String {
        "p\(Self.pipelineVersion)-w\(webpQuality)m\(webpMethod)-j\(jpegQuality)-a\(avifQuality)s\(avifSpeed)\(avifCodec.rawValue)-x\(jxlQuality)e\(jxlEffort)"
    }

    /// libavif 1.x's quality → quantizer mapping, for libavif 0.11 which
    /// only takes quantizers: 100 → 0 (lossless-ish), 0 → 63.
    public var avifQuantizer: Int { ((100 - avifQuality) * 63 + 50) / 100 }

    /// cjxl's quality → Butteraugli distance mapping (libjxl 0.7's
    /// tools/cjxl_main.cc): 90 → 1.0 (visually lossless), 80 → 1.9.
    public var jxlDistance: Float {
        if jxlQuality >= 100 { return 0 }
        if jxlQuality >= 30 { return 0.1 + Float(100 - jxlQuality) * 0.09 }
        return 6.4 + Float(pow(2.5, Double(30 - jxlQuality) / 5.0) / 6.25)
    }
}
