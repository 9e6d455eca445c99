import ArgumentParser
import Foundation
import Herd
import Imaging
import Media

/// `herd score ORIGINAL DISTORTED`: SSIMULACRA 2 of one image against
/// another of the same size, both decoded with herd's decoders (JPEG, PNG,
/// GIF, WebP, AVIF, JPEG XL). What the benchmarks report beside SSIM.
struct ScoreCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "score",
        abstract: "Print the SSIMULACRA 2 score of an image against its original.",
        discussion: "100: identical; 90: not told apart in a flicker test at 1:1; 80: not told apart side by side; "
            + "70: hard to notice without the original; 50: fair.")

    @Argument(help: "The original.")
    var original: String

    @Argument(help: "The image to score: the same size as the original.")
    var distorted: String

    func run() throws {
        func load(_ path: String) throws -> RasterImage {
            guard let data = FileManager.default.contents(atPath: path) else { throw ValidationError("cannot read \(path)") }
            do {
                return try QualitySearch.decodeAny([UInt8](data))
            } catch {
                throw ValidationError("\(path): \(error)")
            }
        }
        let a = try load(original), b = try load(distorted)
        guard let score = SSIMULACRA2.score(original: a, distorted: b) else {
            throw ValidationError("the images differ in size (\(a.width)x\(a.height), \(b.width)x\(b.height)) or are under 8x8")
        }
        print(String(format: "%.8f", score))
    }
}

/// `herd optimize IN --to FORMAT`: what the background optimizer makes of
/// one file: the worker's pixels (decoded, upright, fitted), the lowest
/// quality that reaches `image.target_quality` with the slower settings.
struct OptimizeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "optimize",
        abstract: "Encode one image as the background optimizer would (quality search to image.target_quality).")

    @Argument(help: "The source image.")
    var input: String

    @Option(name: .long, help: "avif, webp, jpeg or jxl.")
    var to: String

    @Option(name: [.short, .long], help: "Where to write the result.")
    var output: String

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let loaded = try options.load(requireUpstream: false)
        guard let format = OutputFormat(rawValue: to.lowercased()), format != .png else {
            throw ValidationError("--to must be avif, webp, jpeg or jxl")
        }
        guard let data = FileManager.default.contents(atPath: input) else { throw ValidationError("cannot read \(input)") }
        let pipeline = ImagePipeline(loaded.configuration)
        let search = QualitySearch(target: Double(loaded.configuration.image.targetQuality), settings: pipeline.settings)
        let started = ProcessInfo.processInfo.systemUptime
        let found: QualitySearch.Result?
        do {
            let (image, info) = try pipeline.prepare([UInt8](data))
            found = try search.search(image, format: format, graphic: info.format == .png || info.format == .gif)
        } catch {
            FileHandle.standardError.write(Data("herd optimize: \(input): \(error)\n".utf8))
            throw ExitCode(1)
        }
        guard let result = found else {
            FileHandle.standardError.write(Data("herd optimize: \(input): no \(format.rawValue) quality reaches \(search.target)\n".utf8))
            throw ExitCode(3)
        }
        guard FileManager.default.createFile(atPath: output, contents: Data(result.bytes)) else {
            throw ValidationError("cannot write \(output)")
        }
        FileHandle.standardError.write(Data(String(format: "%@: %@ q%d, score %.2f, %d bytes, %d encodes, %.2f s\n", input,
                                                   format.rawValue, result.quality, result.score, result.bytes.count,
                                                   result.encodes, ProcessInfo.processInfo.systemUptime - started).utf8))
    }
}
