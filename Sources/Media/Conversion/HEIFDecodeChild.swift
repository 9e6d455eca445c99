import Imaging
import System

/// HEIC/HEIF decoded in a child process (`herd decode-heif`, a
/// `BoundedChild`), never in a worker: libheif 1.15 trusts the HEVC
/// stream's own size over the container's (a 57 KB file that declares
/// 64×64 can make libde265 allocate 1.5 GB) and has no way to stop a
/// decode (a grid of 4,096 references to one oversized tile runs for
/// hours). The child gets an address-space limit sized from the size the
/// container declares and the conversion's time budget; over either, it
/// dies and the conversion fails, the worker untouched.
///
/// The child writes the raster on stdout: "HRST", width, height (u32 LE),
/// channels (u8), ICC length (u32 LE), the ICC profile, then the pixels.
public struct HEIFDecodeChild: Sendable {
    /// This process's own executable, by its path (the child is started
    /// through prlimit and unshare, whose /proc/self is their own, and a
    /// process in a new user namespace may not exec /proc/<worker>/exe).
    /// After an upgrade replaced the file, the new binary answers the same.
    static var executable: String { ThisProcess.executablePath }
    /// The child's fixed cost in address space: herd's binary and its
    /// libraries mapped (measured ~400 MB with Debian's codecs), plus margin.
    static let baseAddressSpace = 768 << 20
    /// Address space per declared pixel: the decoder's planes and frames,
    /// libheif's RGB image and the child's copy of it.
    static let bytesPerPixel = 24

    let timeout: Double

    func decode(_ bytes: UnsafeRawBufferPointer, info: SourceInfo) throws(ImageError) -> RasterImage {
        let limits = BoundedChild.Limits(memory: Self.baseAddressSpace + info.pixelCount * Self.bytesPerPixel,
                                         timeout: timeout,
                                         maxOutputBytes: 64 + (4 << 20) + info.pixelCount * 4)
        let ran = BoundedChild.run("heif", input: Array(bytes), limits: limits) { path in
            [Self.executable, "decode-heif", path]
        }
        switch ran {
        case .failure(let failure):
            throw ImageError(failure.description.contains("over the") || failure.description.contains("still running")
                             ? .timeout : .corrupt, "HEIF decode: \(failure.description)")
        case .success(let output):
            guard let image = Self.raster(from: output) else { throw ImageError(.corrupt, "HEIF decode: unreadable output") }
            guard image.width == info.width, image.height == info.height else {
                throw ImageError(.corrupt, "HEIF decoded to \(image.width)×\(image.height), not the \(info.width)×\(info.height) it declares")
            }
            return image
        }
    }

    public static func serialize(_ image: RasterImage) -> [UInt8] {
        func u32(_ value: Int) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: value >> (8 * $0)) } }
        let icc = image.iccProfile ?? []
        return Array("HRST".utf8) + u32(image.width) + u32(image.height) + [UInt8(image.channels)] + u32(icc.count) + icc + image.pixels
    }

    static func raster(from bytes: [UInt8]) -> RasterImage? {
        guard bytes.count >= 17, bytes.starts(with: Array("HRST".utf8)) else { return nil }
        func u32(_ at: Int) -> Int { (0..<4).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) } }
        let width = u32(4), height = u32(8), channels = Int(bytes[12]), iccLength = u32(13)
        guard (1...65_535).contains(width), (1...65_535).contains(height), channels == 3 || channels == 4,
              bytes.count == 17 + iccLength + width * height * channels else { return nil }
        let icc = iccLength > 0 ? Array(bytes[17..<(17 + iccLength)]) : nil
        return RasterImage(width: width, height: height, channels: channels, pixels: Array(bytes[(17 + iccLength)...]), iccProfile: icc)
    }
}
