import ArgumentParser
import Foundation
import Imaging
import Negotiation
import Media
import Herd

/// `herd convert IN --to avif|webp|jpeg|jxl [-o OUT]`: the worker's own
/// decision and pipeline on one file, so admins can try settings and the
/// benchmark can time whole processes fairly.
struct ConvertCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "convert",
        abstract: "Convert one image file exactly as a worker would.",
        discussion: "Reads [image] settings from the same file, environment and --set flags as the worker. "
            + "Prints what was served (the conversion, or the original when the conversion is not smaller) to stderr.")

    @Argument(help: "The source image (JPEG, PNG, GIF, WebP, AVIF or HEIC).")
    var input: String

    @Option(name: .long, help: "avif, webp, jpeg or jxl.")
    var to: String

    @Option(name: [.short, .long], help: "Where to write the result (default: INPUT with the new extension; - for stdout).")
    var output: String?

    @Flag(help: "Write the conversion even when it is not smaller than the source.")
    var force = false

    @Flag(help: "Print the time of each pipeline step.")
    var timings = false

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let loaded = try options.load(requireUpstream: false)
        guard let format = OutputFormat(rawValue: to.lowercased()) else {
            throw ValidationError("--to must be avif, webp, jpeg or jxl")
        }
        guard let data = FileManager.default.contents(atPath: input) else {
            throw ValidationError("cannot read \(input)")
        }
        let source = [UInt8](data)
        let pipeline = ImagePipeline(loaded.configuration)
        let started = Date()
        let result: [UInt8]
        let served: String
        do {
            let converted = try pipeline.convert(source, to: format)
            if timings {
                let steps = converted.timings.map { "\($0.step) \(String(format: "%.1f", $0.seconds * 1000)) ms" }
                FileHandle.standardError.write(Data("steps: \(steps.joined(separator: ", "))\n".utf8))
                // What a worker would reserve of image.memory_budget for this conversion.
                let estimate = MemoryEstimate.peakBytes(info: converted.source, sourceBytes: source.count, output: format,
                                                        maxDimension: pipeline.maxDimension)
                FileHandle.standardError.write(Data("estimated peak: \(estimate >> 10) KiB\n".utf8))
            }
            // As a worker: never the HEIC itself, which browsers do not show.
            if converted.bytes.count >= source.count, !force, converted.source.format != .heif {
                result = source
                served = "orig (the \(format.rawValue) was \(converted.bytes.count) bytes, not smaller than the source)"
            } else {
                result = converted.bytes
                served = "\(format.rawValue) \(converted.width)x\(converted.height)"
            }
        } catch {
            FileHandle.standardError.write(Data("herd convert: \(input): \(error)\n".utf8))
            throw ExitCode(1)
        }
        let elapsed = Date().timeIntervalSince(started)
        let destination = output ?? (input as NSString).deletingPathExtension + "." + (format == .jpeg ? "jpg" : format.rawValue)
        if destination == "-" {
            FileHandle.standardOutput.write(Data(result))
        } else {
            guard FileManager.default.createFile(atPath: destination, contents: Data(result)) else {
                throw ValidationError("cannot write \(destination)")
            }
        }
        let saved = 100 - 100 * Double(result.count) / Double(max(1, source.count))
        FileHandle.standardError.write(Data(String(
            format: "%@ → %@: %@, %d → %d bytes (%.1f%% saved), %.0f ms, settings %@\n",
            input, destination, served, source.count, result.count, saved, elapsed * 1000, pipeline.settings.version).utf8))
    }
}
