/// Step 3: turns pixels upright according to EXIF orientation (1…8), so
/// the output needs no orientation tag (herd writes none).
public enum Orient {
    public static func apply(_ image: RasterImage, orientation: Int) -> RasterImage {
        guard (2...8).contains(orientation) else { return image }
        let w = image.width, h = image.height, c = image.channels
        let swaps = orientation >= 5
        let outWidth = swaps ? h : w
        let outHeight = swaps ? w : h
        var output = [UInt8](repeating: 0, count: image.pixels.count)
        image.pixels.withUnsafeBufferPointer { source in
            output.withUnsafeMutableBufferPointer { target in
                for y in 0..<outHeight {
                    for x in 0..<outWidth {
                        // Where output pixel (x, y) comes from in the stored image.
                        let (sx, sy): (Int, Int)
                        switch orientation {
                        case 2: (sx, sy) = (w - 1 - x, y)            // mirrored horizontally
                        case 3: (sx, sy) = (w - 1 - x, h - 1 - y)    // rotated 180°
                        case 4: (sx, sy) = (x, h - 1 - y)            // mirrored vertically
                        case 5: (sx, sy) = (y, x)                    // transposed
                        case 6: (sx, sy) = (y, h - 1 - x)            // rotate 90° clockwise to view
                        case 7: (sx, sy) = (w - 1 - y, h - 1 - x)    // transversed
                        default: (sx, sy) = (w - 1 - y, x)           // 8: rotate 90° counter-clockwise to view
                        }
                        let from = (sy * w + sx) * c
                        let to = (y * outWidth + x) * c
                        for channel in 0..<c { target[to + channel] = source[from + channel] }
                    }
                }
            }
        }
        return RasterImage(width: outWidth, height: outHeight, channels: c, pixels: output, iccProfile: image.iccProfile)
    }
}
