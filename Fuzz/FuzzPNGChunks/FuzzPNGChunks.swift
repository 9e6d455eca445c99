// libFuzzer target: the PNG chunk walker (IHDR size, iCCP profile, acTL),
// and APNGFile (chunks to frames, libpng per frame, compositing).
//
// Out-of-bounds reads are ASan's job (the input is read in place).
// Properties checked:
//   - nil exactly when the input is too short for IHDR or does not name it at
//     offset 12; otherwise width and height are IHDR's two big-endian words;
//   - an inflated ICC profile is never over the limit asked for;
//   - `isAnimated` only if the input holds an `acTL` chunk type;
//   - reading is deterministic;
//   - round trip: the input, zlib-compressed into an iCCP chunk of a minimal
//     PNG, reads back unchanged (and is refused when over the limit).
import CZlib
@testable import Imaging

/// Smaller than Probe's 1 MiB so that each iCCP costs little; the property
/// is the same.
private let iccLimit = 64 << 10

private func violated(_ property: String, _ data: UnsafeRawBufferPointer, _ details: String) -> Never {
    let hex = data.prefix(64).map { String($0, radix: 16) }.joined(separator: " ")
    fatalError("FuzzPNGChunks: \(property) — \(data.count)-byte input [\(hex)…]: \(details)")
}

private func u32(_ value: Int) -> [UInt8] {
    [UInt8(value >> 24 & 0xFF), UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
}

private func chunk(_ type: String, _ data: [UInt8]) -> [UInt8] {
    let typeBytes = Array(type.utf8)
    let crc = (typeBytes + data).withUnsafeBufferPointer { UInt32(crc32(0, $0.baseAddress, UInt32($0.count))) }
    return u32(data.count) + typeBytes + data + u32(Int(crc))
}

private func deflated(_ input: [UInt8]) -> [UInt8] {
    var length = compressBound(UInt(input.count))
    var output = [UInt8](repeating: 0, count: Int(length))
    let status = output.withUnsafeMutableBufferPointer { out in
        input.withUnsafeBufferPointer { compress2(out.baseAddress, &length, $0.baseAddress, UInt($0.count), 6) }
    }
    precondition(status == Z_OK, "compress2 failed: \(status)")
    return Array(output[0..<Int(length)])
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)

    let header = PNGChunks.read(input, maxICCBytes: iccLimit)
    let namesIHDR = size >= 33 && input[12] == 0x49 && input[13] == 0x48 && input[14] == 0x44 && input[15] == 0x52
    guard (header != nil) == namesIHDR else { violated("nil exactly without IHDR", input, "\(String(describing: header))") }
    if let header {
        func word(_ at: Int) -> Int { input[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
        guard header.width == word(16), header.height == word(20) else {
            violated("size is IHDR's", input, "\(header.width)×\(header.height)")
        }
        if let profile = header.iccProfile, profile.count > iccLimit {
            violated("ICC profile within the limit", input, "\(profile.count) bytes")
        }
        if header.isAnimated, !input.indices.dropLast(3).contains(where: { input[$0..<($0 + 4)].elementsEqual("acTL".utf8) }) {
            violated("animated only with acTL", input, "")
        }
        let again = PNGChunks.read(input, maxICCBytes: iccLimit)
        guard again?.width == header.width, again?.height == header.height, again?.iccProfile == header.iccProfile,
              again?.isAnimated == header.isAnimated else { violated("deterministic", input, "") }
    }

    // The input as an ICC profile, in an iCCP chunk before IDAT.
    let profile = Array(input)
    // Whether it is sRGB's (the converted image then drops it): any bytes,
    // never a crash or an out-of-bounds read, the same answer twice; a
    // profile too short for a header and a tag table is never sRGB's.
    let isSRGB = ICCProfile.isSRGB(profile)
    guard ICCProfile.isSRGB(profile) == isSRGB else { violated("sRGB detection deterministic", input, "") }
    if profile.count < 132, isSRGB { violated("no sRGB without a tag table", input, "") }
    let ihdr = chunk("IHDR", u32(7) + u32(5) + [8, 6, 0, 0, 0])
    let iccp = chunk("iCCP", Array("fuzz\0".utf8) + [0] + deflated(profile))
    let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A] + ihdr + iccp + chunk("IDAT", []) + chunk("IEND", [])
    let limit = max(1, size / 2 + 1)
    for maxICCBytes in [iccLimit, limit] {
        guard let back = png.withUnsafeBytes({ PNGChunks.read($0, maxICCBytes: maxICCBytes) }) else {
            violated("minimal PNG reads", input, "nil")
        }
        guard back.width == 7, back.height == 5, !back.isAnimated else { violated("minimal PNG header", input, "\(back)") }
        let fits = profile.count <= maxICCBytes
        guard back.iccProfile == (fits ? profile : nil) else {
            violated("iCCP round trip (limit \(maxICCBytes))", input, "got \(back.iccProfile?.count ?? -1) bytes")
        }
    }

    // An APNG, played (small canvases only: the probe's pixel caps come
    // first in the pipeline). Frames are canvases of the canvas's size,
    // each shown at least 11 ms, one after another, never more than the
    // cap asked for; a refusal is an ImageError, never a crash.
    if let header, header.isAnimated, header.width <= 1 << 8, header.height <= 1 << 8,
       let animation = try? APNGFile(input, maxFrames: 32) {
        guard animation.width == header.width, animation.height == header.height,
              (1...32).contains(animation.frames.count), animation.frames.count <= header.frames else {
            violated("APNG frames are the fcTL chunks, within the cap", input, "\(animation.frames.count) of \(header.frames)")
        }
        var expectedStart = 0, played = 0
        let end = try? animation.play { (canvas: [UInt8], start: Int, duration: Int) throws(ImageError) in
            guard canvas.count == header.width * header.height * 4, start == expectedStart, duration > 10 else {
                violated("APNG canvases and times", input, "\(canvas.count) bytes at \(start) ms for \(duration) ms")
            }
            expectedStart += duration
            played += 1
        }
        if let end, end != expectedStart || played != animation.frames.count {
            violated("APNG plays every frame", input, "\(played) frames, ending at \(end)")
        }
    }
    return 0
}
