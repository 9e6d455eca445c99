/// Decoded pixels: 8-bit RGBA (or RGB when the source has no alpha),
/// rows tightly packed, top row first.
public struct RasterImage: Sendable {
    public var width: Int
    public var height: Int
    /// 4 when the image carries alpha, 3 otherwise.
    public var channels: Int
    public var pixels: [UInt8]
    /// The colour profile to carry into the output, as the source had it.
    public var iccProfile: [UInt8]?

    public init(width: Int, height: Int, channels: Int, pixels: [UInt8], iccProfile: [UInt8]? = nil) {
        precondition(channels == 3 || channels == 4)
        precondition(pixels.count == width * height * channels)
        self.width = width
        self.height = height
        self.channels = channels
        self.pixels = pixels
        self.iccProfile = iccProfile
    }

    public var hasAlpha: Bool { channels == 4 }

    /// True when every pixel is fully opaque, so alpha can be dropped.
    public var isOpaque: Bool {
        guard hasAlpha else { return true }
        var index = 3
        while index < pixels.count {
            if pixels[index] != 255 { return false }
            index += 4
        }
        return true
    }

    /// RGBA → RGB composited on `background` (white by default): what a
    /// JPEG made from a transparent source shows.
    public func flattened(background: (UInt8, UInt8, UInt8) = (255, 255, 255)) -> RasterImage {
        guard hasAlpha else { return self }
        var output = [UInt8](repeating: 0, count: width * height * 3)
        let background = [UInt32(background.0), UInt32(background.1), UInt32(background.2)]
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                for pixel in 0..<(width * height) {
                    let alpha = UInt32(source[pixel * 4 + 3])
                    for channel in 0..<3 {
                        let value = UInt32(source[pixel * 4 + channel]) * alpha + background[channel] * (255 - alpha)
                        target[pixel * 3 + channel] = UInt8((value + 127) / 255)
                    }
                }
            }
        }
        return RasterImage(width: width, height: height, channels: 3, pixels: output, iccProfile: iccProfile)
    }

    /// Drops an alpha channel that is opaque everywhere.
    public func droppingOpaqueAlpha() -> RasterImage {
        guard hasAlpha, isOpaque else { return self }
        var output = [UInt8](repeating: 0, count: width * height * 3)
        pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                for pixel in 0..<(width * height) {
                    target[pixel * 3] = source[pixel * 4]
                    target[pixel * 3 + 1] = source[pixel * 4 + 1]
                    target[pixel * 3 + 2] = source[pixel * 4 + 2]
                }
            }
        }
        return RasterImage(width: width, height: height, channels: 3, pixels: output, iccProfile: iccProfile)
    }
}
