import ArgumentParser
import Foundation
import Imaging
import Media

/// `herd decode-heif FILE`: the child side. Not for admins (hidden).
struct DecodeHEIFCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode-heif", abstract: "Decode a HEIC/HEIF file to herd's raster on stdout (run by workers).",
        shouldDisplay: false)

    @Argument var input: String

    func run() throws {
        guard let data = FileManager.default.contents(atPath: input) else { throw ExitCode(3) }
        let bytes = [UInt8](data)
        // The caps are the parent's business; this only decodes what it is given.
        let image: RasterImage
        do {
            image = try bytes.withUnsafeBytes { raw throws(ImageError) -> RasterImage in
                let info = try Probe.run(raw, limits: ImageLimits(maxSourceBytes: Int.max, maxPixels: Int.max,
                                                                   maxFrames: Int.max, maxAnimationPixels: Int.max))
                guard info.format == .heif else { throw ImageError(.unsupported, "not HEIF") }
                return try Decode.run(raw, info: info, maxDimension: 0)
            }
        } catch {
            throw ExitCode(4)
        }
        FileHandle.standardOutput.write(Data(HEIFDecodeChild.serialize(image)))
    }
}
