import CAVIF
import CGIF
import CPNG
import CTurboJPEG
import CWebP

/// Step 2: pixels from a probed source. `maxDimension` lets the JPEG
/// decoder scale down while decoding (1/2, 1/4, 1/8), which is much cheaper
/// than decoding full size and resampling after.
public enum Decode {
    /// `firstFrame`: an animation (GIF, WebP, AVIF sequence) gives its
    /// first frame, composited; without it animations are refused.
    public static func run(_ bytes: UnsafeRawBufferPointer, info: SourceInfo, maxDimension: Int,
                           firstFrame: Bool = false) throws(ImageError) -> RasterImage {
        guard !info.isAnimated || firstFrame else {
            throw ImageError(.unsupported, "animated \(info.format.rawValue)")
        }
        if info.isAnimated, info.format == .webp { return try webpFirstFrame(bytes) }
        switch info.format {
        case .jpeg: return try jpeg(bytes, info: info, maxDimension: maxDimension)
        case .png: return try png(bytes)
        case .gif: return try gif(bytes, firstFrame: firstFrame)
        case .webp: return try webp(bytes, info: info)
        case .avif: return try avif(bytes)
        case .heif: return try HEIFFile(bytes).decode()
        }
    }

    // MARK: JPEG (libturbojpeg)

    /// The smallest libjpeg scale whose result still covers `maxDimension`:
    /// the size the JPEG decoder produces (the memory estimate needs it too).
    static func jpegScaledSize(width: Int, height: Int, maxDimension: Int) -> (width: Int, height: Int) {
        var scaled = (width: width, height: height)
        guard maxDimension > 0, max(width, height) > maxDimension else { return scaled }
        var count: Int32 = 0
        guard let factors = tjGetScalingFactors(&count) else { return scaled }
        for index in 0..<Int(count) {
            let factor = factors[index]
            guard factor.num <= factor.denom else { continue }
            let w = (width * Int(factor.num) + Int(factor.denom) - 1) / Int(factor.denom)
            let h = (height * Int(factor.num) + Int(factor.denom) - 1) / Int(factor.denom)
            if max(w, h) >= maxDimension, w * h < scaled.width * scaled.height { scaled = (w, h) }
        }
        return scaled
    }

    static func jpeg(_ bytes: UnsafeRawBufferPointer, info: SourceInfo, maxDimension: Int) throws(ImageError) -> RasterImage {
        let handle = try TurboJPEG(decompress: true)
        let source = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var width: Int32 = 0, height: Int32 = 0, subsampling: Int32 = 0, colorspace: Int32 = 0
        guard tjDecompressHeader3(handle.raw, source, UInt(bytes.count), &width, &height, &subsampling, &colorspace) == 0 else {
            throw ImageError(.corrupt, "JPEG header: \(handle.lastError)")
        }
        let scaled = jpegScaledSize(width: Int(width), height: Int(height), maxDimension: maxDimension)
        let isCMYK = colorspace == Int32(TJCS_CMYK.rawValue) || colorspace == Int32(TJCS_YCCK.rawValue)
        let channels = isCMYK ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: scaled.width * scaled.height * channels)
        // Stop on warnings: a truncated JPEG decodes "successfully" into grey
        // rows otherwise. Limit progressive scans against scan-bomb files.
        let flags = Int32(TJFLAG_STOPONWARNING | TJFLAG_LIMITSCANS)
        let status = pixels.withUnsafeMutableBufferPointer { buffer in
            tjDecompress2(handle.raw, source, UInt(bytes.count), buffer.baseAddress, Int32(scaled.width), 0, Int32(scaled.height),
                          Int32(isCMYK ? TJPF_CMYK.rawValue : TJPF_RGB.rawValue), flags)
        }
        guard status == 0 else { throw ImageError(.corrupt, "JPEG: \(handle.lastError)") }
        let icc = JPEGSegments.read(bytes).iccProfile
        if isCMYK {
            // Adobe CMYK JPEGs store inverted ink values; with no CMYK colour
            // management, R = C·K/255 on the stored values is the usual
            // approximation (the CMYK profile cannot describe RGB output).
            var rgb = [UInt8](repeating: 0, count: scaled.width * scaled.height * 3)
            for pixel in 0..<(scaled.width * scaled.height) {
                let k = UInt32(pixels[pixel * 4 + 3])
                for channel in 0..<3 {
                    rgb[pixel * 3 + channel] = UInt8((UInt32(pixels[pixel * 4 + channel]) * k + 127) / 255)
                }
            }
            return RasterImage(width: scaled.width, height: scaled.height, channels: 3, pixels: rgb, iccProfile: nil)
        }
        return RasterImage(width: scaled.width, height: scaled.height, channels: 3, pixels: pixels, iccProfile: icc)
    }

    // MARK: PNG (libpng's simplified API: palette, grey, 16-bit, tRNS → 8-bit RGB(A))

    static func png(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> RasterImage {
        guard PNGChunks.imageDataFits(bytes) else { throw ImageError(.corrupt, "PNG: more image data than its size holds") }
        var image = png_image()
        image.version = UInt32(PNG_IMAGE_VERSION)
        guard png_image_begin_read_from_memory(&image, bytes.baseAddress, bytes.count) != 0 else {
            throw ImageError(.corrupt, "PNG: \(pngMessage(&image))")
        }
        defer { png_image_free(&image) }
        let hasAlpha = image.format & UInt32(PNG_FORMAT_FLAG_ALPHA) != 0
        image.format = hasAlpha ? UInt32(PNG_FORMAT_FLAG_COLOR | PNG_FORMAT_FLAG_ALPHA) : UInt32(PNG_FORMAT_FLAG_COLOR)
        // 16-bit samples without gAMA or sRGB are sRGB-encoded, as browsers
        // show them (libpng's simplified API would take them as linear).
        image.flags |= UInt32(PNG_IMAGE_FLAG_16BIT_sRGB)
        let channels = hasAlpha ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: Int(image.width) * Int(image.height) * channels)
        let ok = pixels.withUnsafeMutableBytes { buffer in
            png_image_finish_read(&image, nil, buffer.baseAddress, 0, nil)
        }
        guard ok != 0 else { throw ImageError(.corrupt, "PNG: \(pngMessage(&image))") }
        let icc = PNGChunks.read(bytes)?.iccProfile
        return RasterImage(width: Int(image.width), height: Int(image.height), channels: channels, pixels: pixels, iccProfile: icc)
    }

    private static func pngMessage(_ image: inout png_image) -> String {
        withUnsafeBytes(of: &image.message) { raw in
            String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
    }

    // MARK: WebP (libwebp; ICC from the ICCP chunk via libwebpdemux)

    static func webp(_ bytes: UnsafeRawBufferPointer, info: SourceInfo) throws(ImageError) -> RasterImage {
        let source = bytes.baseAddress!.assumingMemoryBound(to: UInt8.self)
        var width: Int32 = 0, height: Int32 = 0
        let channels = info.hasAlpha ? 4 : 3
        guard let decoded = info.hasAlpha
            ? WebPDecodeRGBA(source, bytes.count, &width, &height)
            : WebPDecodeRGB(source, bytes.count, &width, &height) else {
            throw ImageError(.corrupt, "WebP: decode failed")
        }
        defer { WebPFree(decoded) }
        let pixels = Array(UnsafeBufferPointer(start: decoded, count: Int(width) * Int(height) * channels))
        var icc: [UInt8]? = nil
        var data = WebPData(bytes: source, size: bytes.count)
        if let demux = herd_webp_demux(&data) {
            var iterator = WebPChunkIterator()
            if WebPDemuxGetChunk(demux, "ICCP", 1, &iterator) != 0 {
                icc = Array(UnsafeBufferPointer(start: iterator.chunk.bytes, count: iterator.chunk.size))
                WebPDemuxReleaseChunkIterator(&iterator)
            }
            WebPDemuxDelete(demux)
        }
        return RasterImage(width: Int(width), height: Int(height), channels: channels, pixels: pixels, iccProfile: icc)
    }

    /// An animated WebP's first frame, composited on its canvas (libwebpdemux).
    static func webpFirstFrame(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> RasterImage {
        var data = WebPData(bytes: bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), size: bytes.count)
        var options = WebPAnimDecoderOptions()
        guard herd_webp_anim_decoder_options_init(&options) != 0 else { throw ImageError(.corrupt, "WebPAnimDecoderOptionsInit") }
        options.color_mode = MODE_RGBA
        options.use_threads = 0
        guard let decoder = herd_webp_anim_decoder_new(&data, &options) else { throw ImageError(.corrupt, "animated WebP: unreadable") }
        defer { WebPAnimDecoderDelete(decoder) }
        var info = WebPAnimInfo()
        var pixels: UnsafeMutablePointer<UInt8>? = nil
        var timestamp: Int32 = 0
        guard WebPAnimDecoderGetInfo(decoder, &info) != 0, WebPAnimDecoderGetNext(decoder, &pixels, &timestamp) != 0, let pixels else {
            throw ImageError(.corrupt, "animated WebP: first frame unreadable")
        }
        let width = Int(info.canvas_width), height = Int(info.canvas_height)
        let copy = Array(UnsafeBufferPointer(start: pixels, count: width * height * 4))
        return RasterImage(width: width, height: height, channels: 4, pixels: copy).droppingOpaqueAlpha()
    }

    // MARK: AVIF (libavif; its irot/imir transforms applied like EXIF orientation)

    static func avif(_ bytes: UnsafeRawBufferPointer) throws(ImageError) -> RasterImage {
        let decoder = try AVIFDecoderHandle(bytes)
        let next = avifDecoderNextImage(decoder.raw)
        guard next == AVIF_RESULT_OK, let image = decoder.raw.pointee.image else {
            throw ImageError(.corrupt, "AVIF: \(String(cString: avifResultToString(next)))")
        }
        let hasAlpha = image.pointee.alphaPlane != nil
        var rgb = avifRGBImage()
        avifRGBImageSetDefaults(&rgb, image)
        rgb.format = hasAlpha ? AVIF_RGB_FORMAT_RGBA : AVIF_RGB_FORMAT_RGB
        rgb.depth = 8
        let channels = hasAlpha ? 4 : 3
        var pixels = [UInt8](repeating: 0, count: Int(image.pointee.width) * Int(image.pointee.height) * channels)
        let converted = pixels.withUnsafeMutableBufferPointer { buffer -> avifResult in
            rgb.pixels = buffer.baseAddress
            rgb.rowBytes = image.pointee.width * UInt32(channels)
            return avifImageYUVToRGB(image, &rgb)
        }
        guard converted == AVIF_RESULT_OK else { throw ImageError(.corrupt, "AVIF: \(String(cString: avifResultToString(converted)))") }
        var icc: [UInt8]? = nil
        if image.pointee.icc.size > 0 {
            icc = Array(UnsafeBufferPointer(start: image.pointee.icc.data, count: image.pointee.icc.size))
        }
        var raster = RasterImage(width: Int(image.pointee.width), height: Int(image.pointee.height), channels: channels, pixels: pixels, iccProfile: icc)
        // irot turns counter-clockwise by 90°·angle; imir mirrors after it.
        let flags = image.pointee.transformFlags
        if flags & UInt32(AVIF_TRANSFORM_IROT.rawValue) != 0 {
            switch image.pointee.irot.angle {
            case 1: raster = Orient.apply(raster, orientation: 8)
            case 2: raster = Orient.apply(raster, orientation: 3)
            case 3: raster = Orient.apply(raster, orientation: 6)
            default: break
            }
        }
        if flags & UInt32(AVIF_TRANSFORM_IMIR.rawValue) != 0 {
            raster = Orient.apply(raster, orientation: image.pointee.imir.mode == 0 ? 4 : 2)
        }
        return raster
    }

    // MARK: GIF (giflib; a still, or the first frame; animations: GIFAnimation)

    static func gif(_ bytes: UnsafeRawBufferPointer, firstFrame: Bool = false) throws(ImageError) -> RasterImage {
        let gif = try GIFFile(bytes)
        guard gif.frameCount == 1 || firstFrame else { throw ImageError(.unsupported, "animated GIF") }
        // Canvas: transparent, the frame drawn at its offset.
        var pixels = [UInt8](repeating: 0, count: gif.width * gif.height * 4)
        try gif.draw(frame: 0, into: &pixels)
        return RasterImage(width: gif.width, height: gif.height, channels: 4, pixels: pixels).droppingOpaqueAlpha()
    }
}
