/// Counts a GIF's frames and reads its canvas size by walking its blocks,
/// without decoding any pixels, so the frame cap applies before decoding.
enum GIFStructure {
    struct Summary {
        var width: Int
        var height: Int
        var frames: Int
        /// Whether every frame read lies within the canvas. giflib decodes a
        /// frame at its own size: a 20000×20000 frame on a 1×1 canvas would
        /// slip past a cap that looked at the canvas alone.
        var framesWithinCanvas = true
    }

    static func read(_ bytes: UnsafeRawBufferPointer, stopAfter maxFrames: Int) -> Summary? {
        guard bytes.count >= 13 else { return nil }
        let width = Int(bytes[6]) | Int(bytes[7]) << 8
        let height = Int(bytes[8]) | Int(bytes[9]) << 8
        var offset = 13
        if bytes[10] & 0x80 != 0 { offset += 3 * (1 << (Int(bytes[10] & 0x07) + 1)) }
        var frames = 0
        var framesWithinCanvas = true
        func skipSubBlocks() -> Bool {
            while offset < bytes.count {
                let size = Int(bytes[offset])
                offset += 1
                if size == 0 { return true }
                offset += size
            }
            return false
        }
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x21:  // extension
                offset += 2
                guard skipSubBlocks() else { return Summary(width: width, height: height, frames: frames, framesWithinCanvas: framesWithinCanvas) }
            case 0x2C:  // image descriptor
                guard offset + 10 <= bytes.count else { return Summary(width: width, height: height, frames: frames, framesWithinCanvas: framesWithinCanvas) }
                frames += 1
                if frames > maxFrames { return Summary(width: width, height: height, frames: frames, framesWithinCanvas: framesWithinCanvas) }
                func u16(_ at: Int) -> Int { Int(bytes[offset + at]) | Int(bytes[offset + at + 1]) << 8 }
                if u16(1) + u16(5) > width || u16(3) + u16(7) > height { framesWithinCanvas = false }
                let packed = bytes[offset + 9]
                offset += 10
                if packed & 0x80 != 0 { offset += 3 * (1 << (Int(packed & 0x07) + 1)) }
                offset += 1  // LZW minimum code size
                guard skipSubBlocks() else { return Summary(width: width, height: height, frames: frames, framesWithinCanvas: framesWithinCanvas) }
            case 0x3B:  // trailer
                return Summary(width: width, height: height, frames: frames, framesWithinCanvas: framesWithinCanvas)
            default:
                return Summary(width: width, height: height, frames: frames, framesWithinCanvas: framesWithinCanvas)
            }
        }
        return Summary(width: width, height: height, frames: frames, framesWithinCanvas: framesWithinCanvas)
    }
}
