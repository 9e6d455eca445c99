import Foundation  // log2

/// Misskey's Web Push badge (`?badge`): a 96×96 image carried in the alpha
/// channel only (a browser draws a badge as a mask in its own colour), as
/// misskey-dev/media-proxy makes it with sharp: the image contained in
/// 96×96 (scaled up or down, centred, the margin black), grey, its levels
/// stretched (normalise), contrast 1.75 around mid-grey, flattened on
/// black; that grey is the alpha. An image with almost no information
/// (entropy of the grey levels under 0.1 bits) makes no badge.
public enum Badge {
    public static let side = 96

    /// The badge's pixels (RGBA: every channel the mask), or nil when the
    /// image carries too little to be one.
    public static func make(_ image: RasterImage) throws(ImageError) -> RasterImage? {
        // Contain: scaled so that the longer side is 96, centred.
        let scale = Double(side) / Double(max(image.width, image.height))
        let width = max(1, min(side, Int((Double(image.width) * scale).rounded())))
        let height = max(1, min(side, Int((Double(image.height) * scale).rounded())))
        let scaled = try Fit.resize(image, width: width, height: height)
        var grey = [Double](repeating: 0, count: side * side)
        let left = (side - width) / 2, top = (side - height) / 2
        for y in 0..<height {
            for x in 0..<width {
                let index = (y * width + x) * scaled.channels
                let p = scaled.pixels
                // Rec. 601 luma (libvips' sRGB → b-w), then over black.
                var value = 0.299 * Double(p[index]) + 0.587 * Double(p[index + 1]) + 0.114 * Double(p[index + 2])
                if scaled.channels == 4 { value *= Double(p[index + 3]) / 255 }
                grey[(top + y) * side + left + x] = value
            }
        }
        // normalise: the 1st and 99th percentiles stretched to 0 and 255
        // (sharp's defaults), then the contrast.
        let sorted = grey.sorted()
        let low = sorted[sorted.count / 100], high = sorted[sorted.count * 99 / 100]
        let range = max(1, high - low)
        var mask = [UInt8](repeating: 0, count: side * side)
        var histogram = [Int](repeating: 0, count: 256)
        for index in 0..<grey.count {
            let stretched = (grey[index] - low) * 255 / range
            let contrasted = 1.75 * stretched - 128 * 1.75 + 128
            let level = UInt8(max(0, min(255, contrasted.rounded())))
            mask[index] = level
            histogram[Int(level)] += 1
        }
        guard entropy(histogram, count: mask.count) >= 0.1 else { return nil }
        var pixels = [UInt8](repeating: 0, count: side * side * 4)
        for index in 0..<mask.count {
            let level = mask[index]
            pixels[index * 4] = level
            pixels[index * 4 + 1] = level
            pixels[index * 4 + 2] = level
            pixels[index * 4 + 3] = level
        }
        return RasterImage(width: side, height: side, channels: 4, pixels: pixels)
    }

    /// Shannon entropy in bits of a histogram, as libvips' `stats` reports it.
    static func entropy(_ histogram: [Int], count: Int) -> Double {
        var bits = 0.0
        for value in histogram where value > 0 {
            let p = Double(value) / Double(count)
            bits -= p * log2(p)
        }
        return bits
    }
}
