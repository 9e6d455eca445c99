import CGIF

/// A GIF read whole by giflib (`DGifSlurp`: every frame's indexed pixels,
/// one byte each, within the caps the probe checked), closed when released.
final class GIFFile {
    let file: UnsafeMutablePointer<GifFileType>

    init(_ bytes: UnsafeRawBufferPointer) throws(ImageError) {
        final class Reader {
            let bytes: UnsafeRawBufferPointer
            var offset = 0
            init(_ bytes: UnsafeRawBufferPointer) { self.bytes = bytes }
        }
        let reader = Reader(bytes)
        var error: Int32 = 0
        let opened = withExtendedLifetime(reader) { () -> UnsafeMutablePointer<GifFileType>? in
            DGifOpen(Unmanaged.passUnretained(reader).toOpaque(), { file, buffer, length in
                let reader = Unmanaged<Reader>.fromOpaque(file!.pointee.UserData).takeUnretainedValue()
                let count = min(Int(length), reader.bytes.count - reader.offset)
                guard count > 0, let buffer else { return 0 }
                buffer.update(from: reader.bytes.baseAddress!.advanced(by: reader.offset).assumingMemoryBound(to: UInt8.self), count: count)
                reader.offset += count
                return Int32(count)
            }, &error)
        }
        guard let opened else { throw ImageError(.corrupt, "GIF: open failed (\(error))") }
        let slurped = withExtendedLifetime(reader) { DGifSlurp(opened) }
        guard slurped == GIF_OK, opened.pointee.ImageCount >= 1, opened.pointee.SavedImages != nil else {
            let message = GifErrorString(opened.pointee.Error).map { String(cString: $0) } ?? "decode failed"
            DGifCloseFile(opened, &error)
            throw ImageError(.corrupt, "GIF: " + message)
        }
        file = opened
    }

    deinit {
        var error: Int32 = 0
        DGifCloseFile(file, &error)
    }

    var width: Int { Int(file.pointee.SWidth) }
    var height: Int { Int(file.pointee.SHeight) }
    var frameCount: Int { Int(file.pointee.ImageCount) }

    /// Frame `index`'s graphic control: disposal, delay, transparent index.
    func control(_ index: Int) -> GraphicsControlBlock {
        var block = GraphicsControlBlock()
        block.TransparentColor = -1
        _ = DGifSavedExtensionToGCB(file, Int32(index), &block)
        return block
    }

    /// The frame's rectangle, clipped to the canvas.
    func rectangle(_ index: Int) -> (left: Int, top: Int, width: Int, height: Int) {
        let description = file.pointee.SavedImages[index].ImageDesc
        let left = min(Int(description.Left), width), top = min(Int(description.Top), height)
        return (left, top, min(Int(description.Width), width - left), min(Int(description.Height), height - top))
    }

    /// Draws frame `index` over `canvas` (RGBA, the logical screen's size):
    /// its opaque pixels replace what is there; transparent ones leave it.
    func draw(frame index: Int, into canvas: inout [UInt8]) throws(ImageError) {
        let frame = file.pointee.SavedImages[index]
        guard let colorMap = frame.ImageDesc.ColorMap ?? file.pointee.SColorMap, let raster = frame.RasterBits,
              let colors = colorMap.pointee.Colors else {
            throw ImageError(.corrupt, "GIF: no colour map")
        }
        let transparent = Int(control(index).TransparentColor)
        let colorCount = Int(colorMap.pointee.ColorCount)
        let left = Int(frame.ImageDesc.Left), top = Int(frame.ImageDesc.Top)
        let frameWidth = Int(frame.ImageDesc.Width), frameHeight = Int(frame.ImageDesc.Height)
        let width = self.width, height = self.height
        canvas.withUnsafeMutableBufferPointer { pixels in
            for y in 0..<frameHeight where top + y < height {
                for x in 0..<frameWidth where left + x < width {
                    let index = Int(raster[y * frameWidth + x])
                    guard index != transparent, index < colorCount else { continue }
                    let target = ((top + y) * width + left + x) * 4
                    pixels[target] = colors[index].Red
                    pixels[target + 1] = colors[index].Green
                    pixels[target + 2] = colors[index].Blue
                    pixels[target + 3] = 255
                }
            }
        }
    }

    /// The NETSCAPE2.0 loop count as WebP means it (0 = forever); a GIF
    /// without one plays once.
    /// Whether any frame has a transparent colour (the animation may show
    /// transparent pixels).
    var mayBeTransparent: Bool {
        (0..<frameCount).contains { control($0).TransparentColor >= 0 }
    }

    var loopCount: Int {
        guard let first = file.pointee.SavedImages?.pointee, first.ExtensionBlockCount > 0, let blocks = first.ExtensionBlocks else {
            return 1
        }
        let count = Int(first.ExtensionBlockCount)
        for index in 0..<count - 1 {
            let block = blocks[index]
            guard block.Function == APPLICATION_EXT_FUNC_CODE, block.ByteCount == 11, let bytes = block.Bytes else { continue }
            let name = String(decoding: UnsafeBufferPointer(start: bytes, count: 11), as: UTF8.self)
            guard name == "NETSCAPE2.0" || name == "ANIMEXTS1.0" else { continue }
            let data = blocks[index + 1]
            guard data.Function == CONTINUE_EXT_FUNC_CODE, data.ByteCount >= 3, let loop = data.Bytes, loop[0] == 1 else { continue }
            return Int(loop[1]) | Int(loop[2]) << 8
        }
        return 1
    }
}

/// An animated GIF as browsers play it: each frame drawn over the canvas
/// the previous one left, after that one's disposal (none, restore to
/// background — transparent —, or restore to previous), each shown for its
/// delay (browsers show delays of 10 ms or less as 100 ms).
enum GIFAnimation {
    /// Calls `frame` with each composited canvas (RGBA), the time it
    /// starts and how long it shows, in ms; returns when the last one ends.
    static func play(_ gif: GIFFile, frame: (_ canvas: [UInt8], _ startMs: Int, _ durationMs: Int) throws(ImageError) -> Void)
        throws(ImageError) -> Int {
        var canvas = [UInt8](repeating: 0, count: gif.width * gif.height * 4)
        var timestamp = 0
        for index in 0..<gif.frameCount {
            let control = gif.control(index)
            let restore = control.DisposalMode == DISPOSE_PREVIOUS ? canvas : nil
            try gif.draw(frame: index, into: &canvas)
            let duration = AnimationTiming.shown(Int(control.DelayTime) * 10)
            try frame(canvas, timestamp, duration)
            timestamp += duration
            switch control.DisposalMode {
            case DISPOSE_BACKGROUND:
                let rect = gif.rectangle(index)
                let width = gif.width
                canvas.withUnsafeMutableBufferPointer { pixels in
                    for y in rect.top..<(rect.top + max(0, rect.height)) {
                        let start = (y * width + rect.left) * 4
                        for offset in 0..<(max(0, rect.width) * 4) { pixels[start + offset] = 0 }
                    }
                }
            case DISPOSE_PREVIOUS:
                if let restore { canvas = restore }
            default:
                break
            }
        }
        return timestamp
    }
}
