import CWebP

/// Step 4: scales an image down so its longest side is at most
/// `maxDimension`, with libwebp's rescaler (a proper area-averaging
/// resampler, the one cwebp -resize uses).
public enum Fit {
    public static func apply(_ image: RasterImage, maxDimension: Int) throws(ImageError) -> RasterImage {
        guard maxDimension > 0, max(image.width, image.height) > maxDimension else { return image }
        return try apply(image, box: FitBox(width: maxDimension, height: maxDimension))
    }

    /// Scales down (never up) to fit `box`, keeping the aspect ratio.
    public static func apply(_ image: RasterImage, box: FitBox) throws(ImageError) -> RasterImage {
        let (width, height) = box.fitted(width: image.width, height: image.height)
        guard width != image.width || height != image.height else { return image }
        return try resize(image, width: width, height: height)
    }

    /// Scales to exactly `width` × `height` (up or down).
    public static func resize(_ image: RasterImage, width: Int, height: Int) throws(ImageError) -> RasterImage {
        let picture = try WebPPictureBox(image)
        guard WebPPictureRescale(&picture.picture, Int32(width), Int32(height)) != 0 else {
            throw ImageError(.encodeFailed, "rescale to \(width)×\(height) failed")
        }
        return picture.raster(channels: image.channels, iccProfile: image.iccProfile)
    }
}

/// A box an image is scaled down to fit in: a width and a height limit,
/// either 0 for none (Misskey's `emoji` limits the height only).
public struct FitBox: Sendable, Equatable {
    public var width: Int
    public var height: Int

    public init(width: Int, height: Int) {
        self.width = width
        self.height = height
    }

    /// The size `width` × `height` scales down to, aspect kept, never up, at least 1×1.
    public func fitted(width: Int, height: Int) -> (width: Int, height: Int) {
        var scale = 1.0
        if self.width > 0, width > self.width { scale = min(scale, Double(self.width) / Double(width)) }
        if self.height > 0, height > self.height { scale = min(scale, Double(self.height) / Double(height)) }
        guard scale < 1 else { return (width, height) }
        return (max(1, Int((Double(width) * scale).rounded())), max(1, Int((Double(height) * scale).rounded())))
    }
}

/// Owns a WebPPicture in ARGB form, filled from a raster.
final class WebPPictureBox {
    var picture = WebPPicture()

    init(_ image: RasterImage, argb: Bool = true) throws(ImageError) {
        guard herd_webp_picture_init(&picture) != 0 else { throw ImageError(.encodeFailed, "WebPPictureInit") }
        picture.use_argb = argb ? 1 : 0
        picture.width = Int32(image.width)
        picture.height = Int32(image.height)
        let imported = image.pixels.withUnsafeBufferPointer { pixels in
            image.hasAlpha
                ? WebPPictureImportRGBA(&picture, pixels.baseAddress, Int32(image.width * 4))
                : WebPPictureImportRGB(&picture, pixels.baseAddress, Int32(image.width * 3))
        }
        guard imported != 0 else { throw ImageError(.encodeFailed, "WebPPictureImport (out of memory?)") }
    }

    /// The ARGB pixels back as RGB(A) bytes.
    func raster(channels: Int, iccProfile: [UInt8]?) -> RasterImage {
        let width = Int(picture.width), height = Int(picture.height), stride = Int(picture.argb_stride)
        var pixels = [UInt8](repeating: 0, count: width * height * channels)
        let argb = picture.argb!
        for y in 0..<height {
            for x in 0..<width {
                let value = argb[y * stride + x]
                let target = (y * width + x) * channels
                pixels[target] = UInt8((value >> 16) & 0xFF)
                pixels[target + 1] = UInt8((value >> 8) & 0xFF)
                pixels[target + 2] = UInt8(value & 0xFF)
                if channels == 4 { pixels[target + 3] = UInt8(value >> 24) }
            }
        }
        return RasterImage(width: width, height: height, channels: channels, pixels: pixels, iccProfile: iccProfile)
    }

    deinit { WebPPictureFree(&picture) }
}
