/// Image formats herd reads, identified from their first bytes only: the
/// origin's Content-Type and the file extension are never trusted.
public enum ImageFormat: String, Sendable, CaseIterable {
    case jpeg, png, gif, webp, avif
    /// HEIC/HEIF stills (iPhone photos): read, never sent to a browser as is.
    case heif

    /// The format of `bytes`, or nil for anything that is not one of ours
    /// (video, SVG, HTML, HEIC, truncated headers…).
    /// The most bytes `sniff` reads: 12 tell every format apart but an
    /// ISOBMFF file with a generic major brand ("mif1"), whose compatible
    /// brands follow.
    public static let sniffLength = 64

    public static func sniff(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
        func at(_ offset: Int, _ signature: [UInt8]) -> Bool {
            guard bytes.count >= offset + signature.count else { return false }
            for (index, byte) in signature.enumerated() where bytes[offset + index] != byte { return false }
            return true
        }
        if at(0, [0xFF, 0xD8, 0xFF]) { return .jpeg }
        if at(0, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
        if at(0, Array("GIF87a".utf8)) || at(0, Array("GIF89a".utf8)) { return .gif }
        if at(0, Array("RIFF".utf8)) && at(8, Array("WEBP".utf8)) { return .webp }
        // ISOBMFF: size, "ftyp", major brand, minor version, compatible
        // brands. AVIF images and sequences; HEVC-coded HEIF (HEIC).
        if at(4, Array("ftyp".utf8)) {
            if at(8, Array("avif".utf8)) || at(8, Array("avis".utf8)) { return .avif }
            for brand in ["heic", "heix", "heim", "heis"] where at(8, Array(brand.utf8)) { return .heif }
            // A generic major brand ("mif1"): the compatible brands say which.
            if at(8, Array("mif1".utf8)) || at(8, Array("msf1".utf8)) {
                let size = Int(bytes[0]) << 24 | Int(bytes[1]) << 16 | Int(bytes[2]) << 8 | Int(bytes[3])
                var offset = 16
                while offset + 4 <= min(size, bytes.count, 64) {
                    if at(offset, Array("avif".utf8)) { return .avif }
                    if at(offset, Array("heic".utf8)) || at(offset, Array("heix".utf8)) { return .heif }
                    offset += 4
                }
            }
        }
        return nil
    }

    public static func sniff(_ bytes: [UInt8]) -> ImageFormat? {
        bytes.withUnsafeBytes { sniff($0) }
    }

    public var mimeType: String {
        switch self {
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .gif: "image/gif"
        case .webp: "image/webp"
        case .avif: "image/avif"
        case .heif: "image/heic"
        }
    }

    /// The usual file extension.
    public var fileExtension: String {
        switch self {
        case .jpeg: "jpg"
        case .heif: "heic"
        default: rawValue
        }
    }
}

/// Formats herd writes.
public enum OutputFormat: String, Sendable, CaseIterable {
    case avif, webp, jpeg
    /// JPEG XL: JPEG sources recompressed losslessly, others encoded.
    case jxl
    /// Previews with transparency, for clients that accept neither AVIF nor WebP.
    case png

    public var mimeType: String {
        switch self {
        case .avif: "image/avif"
        case .webp: "image/webp"
        case .jpeg: "image/jpeg"
        case .png: "image/png"
        case .jxl: "image/jxl"
        }
    }

    /// The usual file extension.
    public var fileExtension: String { self == .jpeg ? "jpg" : rawValue }
}
