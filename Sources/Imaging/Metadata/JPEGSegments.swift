/// Reads what herd needs from a JPEG's APP segments without decoding it:
/// the EXIF orientation and the ICC profile. Everything else in the
/// metadata (EXIF with GPS, XMP, comments) is left behind, because herd
/// writes new files from pixels and only copies what it chooses.
enum JPEGSegments {
    struct Metadata {
        var orientation: Int = 1
        var iccProfile: [UInt8]?
    }

    /// Start-of-scan markers in the file. 0xFF 0xDA cannot occur inside
    /// entropy-coded data (a 0xFF there is followed by 0x00 or a restart
    /// marker), so counting the pair counts the scans.
    static func scanCount(_ bytes: UnsafeRawBufferPointer) -> Int {
        guard bytes.count > 1 else { return 0 }
        var count = 0
        var index = 0
        while index < bytes.count - 1 {
            if bytes[index] == 0xFF, bytes[index + 1] == 0xDA { count += 1; index += 2 } else { index += 1 }
        }
        return count
    }

    /// libjpeg-turbo's limit with TJFLAG_LIMITSCANS: more scans than this
    /// is a scan bomb (each scan re-walks the whole image).
    static let maxScans = 500

    static func read(_ bytes: UnsafeRawBufferPointer) -> Metadata {
        var metadata = Metadata()
        var iccChunks: [Int: [UInt8]] = [:]
        var iccCount = 0
        var seenEXIF = false
        var offset = 2  // after SOI
        while offset + 4 <= bytes.count {
            guard bytes[offset] == 0xFF else { break }
            let marker = bytes[offset + 1]
            if marker == 0xFF { offset += 1; continue }  // fill byte
            if marker == 0xD8 || (0xD0...0xD7).contains(marker) || marker == 0x01 { offset += 2; continue }
            if marker == 0xDA || marker == 0xD9 { break }  // start of scan: no more metadata
            let length = Int(bytes[offset + 2]) << 8 | Int(bytes[offset + 3])
            guard length >= 2, offset + 2 + length <= bytes.count else { break }
            let payload = UnsafeRawBufferPointer(rebasing: bytes[(offset + 4)..<(offset + 2 + length)])
            if marker == 0xE1, payload.starts(with: Array("Exif\0\0".utf8)), !seenEXIF {
                // The first EXIF segment counts, as for browsers and libjxl.
                seenEXIF = true
                if let value = exifOrientation(UnsafeRawBufferPointer(rebasing: payload[6...])) {
                    metadata.orientation = value
                }
            } else if marker == 0xE2, payload.starts(with: Array("ICC_PROFILE\0".utf8)), payload.count > 14 {
                let sequence = Int(payload[12])
                iccCount = Int(payload[13])
                iccChunks[sequence] = Array(payload[14...])
            }
            offset += 2 + length
        }
        if iccCount > 0, iccChunks.count == iccCount {
            var profile: [UInt8] = []
            for sequence in 1...iccCount {
                guard let chunk = iccChunks[sequence] else { return metadata }
                profile += chunk
            }
            metadata.iccProfile = profile
        }
        return metadata
    }

    /// Tag 0x0112 of IFD0 in a TIFF structure (EXIF), 1…8.
    static func exifOrientation(_ tiff: UnsafeRawBufferPointer) -> Int? {
        guard tiff.count >= 8 else { return nil }
        let little: Bool
        if tiff[0] == 0x49, tiff[1] == 0x49 { little = true } else if tiff[0] == 0x4D, tiff[1] == 0x4D { little = false } else { return nil }
        func u16(_ at: Int) -> Int? {
            guard at + 2 <= tiff.count else { return nil }
            return little ? Int(tiff[at]) | Int(tiff[at + 1]) << 8 : Int(tiff[at]) << 8 | Int(tiff[at + 1])
        }
        func u32(_ at: Int) -> Int? {
            guard at + 4 <= tiff.count else { return nil }
            let b = (Int(tiff[at]), Int(tiff[at + 1]), Int(tiff[at + 2]), Int(tiff[at + 3]))
            return little ? b.0 | b.1 << 8 | b.2 << 16 | b.3 << 24 : b.0 << 24 | b.1 << 16 | b.2 << 8 | b.3
        }
        guard let ifd = u32(4), let count = u16(ifd) else { return nil }
        for entry in 0..<min(count, 512) {
            let at = ifd + 2 + entry * 12
            guard let tag = u16(at) else { return nil }
            if tag == 0x0112, let value = u16(at + 8), (1...8).contains(value) { return value }
        }
        return nil
    }

    /// APP2 ICC_PROFILE segments for `profile` (split at 65519 bytes each).
    static func iccSegments(_ profile: [UInt8]) -> [UInt8] {
        let chunkSize = 65_519
        let chunks = stride(from: 0, to: profile.count, by: chunkSize).map { Array(profile[$0..<min(profile.count, $0 + chunkSize)]) }
        guard !chunks.isEmpty, chunks.count < 256 else { return [] }
        var output: [UInt8] = []
        for (index, chunk) in chunks.enumerated() {
            let length = 2 + 12 + 2 + chunk.count
            output += [0xFF, 0xE2, UInt8(length >> 8), UInt8(length & 0xFF)]
            output += Array("ICC_PROFILE\0".utf8)
            output += [UInt8(index + 1), UInt8(chunks.count)]
            output += chunk
        }
        return output
    }
}
