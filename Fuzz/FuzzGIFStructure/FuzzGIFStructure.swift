// libFuzzer target: the GIF block walker that counts frames before any
// pixel is decoded (the `image.max_frames` cap relies on it).
//
// Out-of-bounds reads are ASan's job (the input is read in place).
// Properties checked:
//   - nil exactly for inputs shorter than the 13-byte header; otherwise the
//     canvas size is the header's two little-endian words;
//   - every counted frame has its own 10-byte image descriptor in the input,
//     so frames × 10 never exceeds the input's size;
//   - the cap: with `stopAfter: k` the count is min(all frames, k + 1), so a
//     count over the cap is always seen, and walking stops right after;
//   - deterministic.
@testable import Imaging

private func violated(_ property: String, _ data: UnsafeRawBufferPointer, _ details: String) -> Never {
    let hex = data.prefix(64).map { String($0, radix: 16) }.joined(separator: " ")
    fatalError("FuzzGIFStructure: \(property) — \(data.count)-byte input [\(hex)…]: \(details)")
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let input = UnsafeRawBufferPointer(start: data, count: size)

    let all = GIFStructure.read(input, stopAfter: Int.max - 1)
    guard (all == nil) == (size < 13) else { violated("nil exactly under 13 bytes", input, "\(String(describing: all))") }
    guard let all else { return 0 }
    guard all.width == Int(input[6]) | Int(input[7]) << 8, all.height == Int(input[8]) | Int(input[9]) << 8 else {
        violated("canvas size from the header", input, "\(all.width)×\(all.height)")
    }
    guard all.frames >= 0, all.frames * 10 <= size - 13 else {
        violated("each frame has a 10-byte descriptor in the input", input, "\(all.frames) frames")
    }
    let again = GIFStructure.read(input, stopAfter: Int.max - 1)
    guard again?.frames == all.frames, again?.width == all.width, again?.height == all.height else {
        violated("deterministic", input, "")
    }

    // The cap, at a few values around the true count.
    for cap in Set([0, 1, all.frames - 1, all.frames, all.frames + 1, 1_000]) where cap >= 0 {
        guard let capped = GIFStructure.read(input, stopAfter: cap) else { violated("capped read is not nil", input, "cap \(cap)") }
        guard capped.frames == min(all.frames, cap + 1), capped.width == all.width, capped.height == all.height else {
            violated("count under stopAfter: \(cap) is min(frames, cap + 1)", input, "\(capped.frames) of \(all.frames)")
        }
    }
    return 0
}
