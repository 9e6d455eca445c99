// libFuzzer target: the format sniffer and the header-only probe (the step
// that checks the caps before anything is decoded). The header parsers of
// libjpeg-turbo, libwebp and libavif run here too (not instrumented for
// coverage, but ASan still sees their reads of the input through memcpy and
// friends).
//
// Properties checked:
//   - `sniff` is decided by the first 64 bytes only (12 but for an ftyp
//     box with a generic major brand, whose compatible brands decide), and
//     matches the signatures (JPEG, PNG, GIF87a/89a, RIFF…WEBP, ftyp
//     avif/avis, ftyp heic/heix/heim/heis, mif1/msf1 with avif or heic/heix
//     among the compatible brands);
//   - a probe that passes is within the caps: 1…65535 on each side, at most
//     maxPixels, 1…maxFrames frames, orientation 1…8, the sniffed format;
//   - a probe is deterministic, and over-cap inputs fail with the cap's
//     error: lowering maxPixels / maxFrames / maxSourceBytes just under what
//     was found turns a pass into tooManyPixels / tooManyFrames / tooLarge;
//   - JPEG orientation is the APP1 EXIF one; PNG and GIF sizes are their
//     headers'.
@testable import Imaging

private let limits = ImageLimits(maxSourceBytes: 16 << 20, maxPixels: 40_000_000, maxFrames: 1_000)

private func violated(_ property: String, _ data: UnsafeRawBufferPointer, _ details: String) -> Never {
    let hex = data.prefix(64).map { String($0, radix: 16) }.joined(separator: " ")
    fatalError("FuzzProbe: \(property) — \(data.count)-byte input [\(hex)…]: \(details)")
}

private func expectedFormat(_ bytes: UnsafeRawBufferPointer) -> ImageFormat? {
    func has(_ offset: Int, _ signature: [UInt8]) -> Bool {
        bytes.count >= offset + signature.count && bytes[offset..<(offset + signature.count)].elementsEqual(signature)
    }
    if has(0, [0xFF, 0xD8, 0xFF]) { return .jpeg }
    if has(0, [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A]) { return .png }
    if has(0, Array("GIF87a".utf8)) || has(0, Array("GIF89a".utf8)) { return .gif }
    if has(0, Array("RIFF".utf8)), has(8, Array("WEBP".utf8)) { return .webp }
    guard has(4, Array("ftyp".utf8)) else { return nil }
    if has(8, Array("avif".utf8)) || has(8, Array("avis".utf8)) { return .avif }
    if ["heic", "heix", "heim", "heis"].contains(where: { has(8, Array($0.utf8)) }) { return .heif }
    guard has(8, Array("mif1".utf8)) || has(8, Array("msf1".utf8)) else { return nil }
    // Compatible brands: 4-byte entries from offset 16 to the end of the
    // ftyp box, within the first 64 bytes; the first of ours decides.
    let boxSize = bytes[0..<4].reduce(0) { $0 << 8 | Int($1) }
    var offset = 16
    while offset + 4 <= min(boxSize, bytes.count, 64) {
        if has(offset, Array("avif".utf8)) { return .avif }
        if has(offset, Array("heic".utf8)) || has(offset, Array("heix".utf8)) { return .heif }
        offset += 4
    }
    return nil
}

private func probe(_ bytes: UnsafeRawBufferPointer, _ limits: ImageLimits) -> Result<SourceInfo, ImageError> {
    do { return .success(try Probe.run(bytes, limits: limits)) } catch { return .failure(error) }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)

    let format = ImageFormat.sniff(input)
    guard format == expectedFormat(input) else { violated("sniff matches the signatures", input, "\(String(describing: format))") }
    guard ImageFormat.sniff(UnsafeRawBufferPointer(rebasing: input.prefix(64))) == format else {
        violated("sniff reads 64 bytes at most", input, "")
    }
    // Probe needs at least one byte (ImagePipeline refuses empty files first).
    guard size > 0 else { return 0 }

    let result = probe(input, limits)
    let again = probe(input, limits)
    guard result == again else { violated("deterministic", input, "\(result) then \(again)") }

    switch result {
    case .failure(let error):
        if format == nil, error.kind != .unsupported { violated("not an image is unsupported", input, "\(error)") }
    case .success(let info):
        guard info.format == format else { violated("probe agrees with sniff", input, "\(info.format)") }
        guard (1...65_535).contains(info.width), (1...65_535).contains(info.height), info.pixelCount <= limits.maxPixels,
              (1...limits.maxFrames).contains(info.frames), (1...8).contains(info.orientation) else {
            violated("within the caps", input, "\(info)")
        }
        switch info.format {
        case .jpeg:
            let orientation = JPEGSegments.read(input).orientation
            guard info.orientation == orientation else { violated("JPEG orientation is EXIF's", input, "\(info.orientation) vs \(orientation)") }
        case .png:
            func word(_ at: Int) -> Int { input[at..<(at + 4)].reduce(0) { $0 << 8 | Int($1) } }
            guard info.width == word(16), info.height == word(20) else { violated("PNG size is IHDR's", input, "\(info)") }
        case .gif:
            guard info.width == Int(input[6]) | Int(input[7]) << 8, info.height == Int(input[8]) | Int(input[9]) << 8 else {
                violated("GIF size is the header's", input, "\(info)")
            }
        case .webp, .avif, .heif:
            // HEIF's rotation is applied by libheif while decoding.
            guard info.orientation == 1 else { violated("no orientation for WebP/AVIF/HEIF", input, "\(info)") }
        }

        // Each cap, set just under what passed, refuses with its own error.
        var tighter = limits
        tighter.maxPixels = info.pixelCount - 1
        if case .failure(let error) = probe(input, tighter), error.kind == .tooManyPixels {} else {
            violated("maxPixels is enforced from the header", input, "\(info)")
        }
        tighter = limits
        tighter.maxSourceBytes = size - 1
        if case .failure(let error) = probe(input, tighter), error.kind == .tooLarge {} else {
            violated("maxSourceBytes is enforced", input, "\(info)")
        }
        if info.frames > 1 {
            tighter = limits
            tighter.maxFrames = info.frames - 1
            if case .failure(let error) = probe(input, tighter), error.kind == .tooManyFrames {} else {
                violated("maxFrames is enforced from the header", input, "\(info)")
            }
        }
    }
    return 0
}
