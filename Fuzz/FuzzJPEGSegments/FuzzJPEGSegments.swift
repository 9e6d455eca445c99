// libFuzzer target: the JPEG APP-segment reader (EXIF orientation, ICC
// profile), fed the input as a whole file and as a bare TIFF (EXIF) block.
//
// Out-of-bounds reads are ASan's job (the input is libFuzzer's exact-size
// heap buffer, read in place). Properties checked:
//   - the orientation is always 1…8, and `exifOrientation` is nil or 1…8;
//   - an ICC profile is assembled from the input's own chunks, so it is never
//     larger than the input;
//   - reading is deterministic;
//   - round trips: any byte string written as APP2 ICC_PROFILE segments by
//     `iccSegments` (what the JPEG encoder does) reads back unchanged, and so
//     does a profile found in the input; an orientation written in a minimal
//     EXIF block (both byte orders) reads back unchanged.
@testable import Imaging

private func violated(_ property: String, _ data: UnsafeRawBufferPointer, _ details: String) -> Never {
    let hex = data.prefix(64).map { String($0, radix: 16) }.joined(separator: " ")
    fatalError("FuzzJPEGSegments: \(property) — \(data.count)-byte input [\(hex)…]: \(details)")
}

private func read(_ file: [UInt8]) -> JPEGSegments.Metadata {
    file.withUnsafeBytes { JPEGSegments.read($0) }
}

private func jpeg(_ segments: [UInt8]) -> [UInt8] {
    [0xFF, 0xD8] + segments + [0xFF, 0xD9]
}

/// A minimal APP1 EXIF segment: IFD0 with one Orientation entry.
private func exifSegment(orientation: Int, littleEndian: Bool) -> [UInt8] {
    func u16(_ value: Int) -> [UInt8] { littleEndian ? [UInt8(value & 0xFF), UInt8(value >> 8)] : [UInt8(value >> 8), UInt8(value & 0xFF)] }
    func u32(_ value: Int) -> [UInt8] { littleEndian ? u16(value & 0xFFFF) + u16(value >> 16) : u16(value >> 16) + u16(value & 0xFFFF) }
    let tiff = (littleEndian ? [0x49, 0x49] : [0x4D, 0x4D]) + u16(42) + u32(8)
        + u16(1) + u16(0x0112) + u16(3) + u32(1) + u16(orientation) + u16(0) + u32(0)
    let payload = Array("Exif\0\0".utf8) + tiff
    let length = payload.count + 2
    return [0xFF, 0xE1, UInt8(length >> 8), UInt8(length & 0xFF)] + payload
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)

    // The input as a JPEG file (the reader starts after the 2-byte SOI).
    let metadata = JPEGSegments.read(input)
    guard (1...8).contains(metadata.orientation) else { violated("orientation 1…8", input, "\(metadata.orientation)") }
    if let profile = metadata.iccProfile {
        guard profile.count <= size else { violated("ICC profile within the input", input, "\(profile.count) bytes") }
        let again = JPEGSegments.read(input)
        guard again.orientation == metadata.orientation, again.iccProfile == profile else { violated("deterministic", input, "") }
        let rewritten = read(jpeg(JPEGSegments.iccSegments(profile)))
        guard rewritten.iccProfile == profile else {
            violated("found ICC profile survives iccSegments", input, "\(profile.count) → \(rewritten.iccProfile?.count ?? -1) bytes")
        }
    }

    // The input as the TIFF structure inside an EXIF segment.
    if let orientation = JPEGSegments.exifOrientation(input), !(1...8).contains(orientation) {
        violated("exifOrientation 1…8", input, "\(orientation)")
    }

    // The input as an ICC profile: written by iccSegments, read back whole.
    // Empty or over 255 × 65519 bytes gives no segments (nothing to embed).
    let profile = Array(input)
    let segments = JPEGSegments.iccSegments(profile)
    if profile.isEmpty {
        guard segments.isEmpty else { violated("no segments for an empty profile", input, "\(segments.count) bytes") }
    } else {
        let back = read(jpeg(segments))
        guard back.iccProfile == profile, back.orientation == 1 else {
            violated("iccSegments round trip", input, "got \(back.iccProfile?.count ?? -1) bytes, orientation \(back.orientation)")
        }
        // With an EXIF segment before it, both are found.
        let orientation = size > 0 ? Int(input[0] % 8) + 1 : 1
        let little = size > 1 && input[1] & 1 == 1
        let both = read(jpeg(exifSegment(orientation: orientation, littleEndian: little) + segments))
        guard both.orientation == orientation, both.iccProfile == profile else {
            violated("EXIF orientation and ICC round trip", input, "orientation \(both.orientation) for \(orientation)")
        }
    }
    return 0
}
