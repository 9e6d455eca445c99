import Imaging
import Settings

extension ImagePipeline {
    /// The pipeline a worker (and `herd convert`) runs for this configuration.
    public init(_ configuration: HerdConfiguration) {
        let image = configuration.image
        var settings = EncoderSettings()
        settings.webpQuality = image.webpQuality > 0 ? image.webpQuality : image.quality
        settings.jpegQuality = image.jpegQuality > 0 ? image.jpegQuality : image.quality
        settings.avifQuality = image.avifQuality
        settings.avifSpeed = image.avifSpeed
        settings.avifCodec = EncoderSettings.AVIFCodec(rawValue: image.avifCodec) ?? .aom
        settings.webpMethod = image.webpMethod
        settings.jxlQuality = image.jxlQuality
        settings.jxlEffort = image.jxlEffort
        settings.threads = image.encoderThreads
        var limits = ImageLimits(maxSourceBytes: image.maxSourceBytes, maxPixels: image.maxPixels, maxFrames: image.maxFrames,
                                 maxAnimationPixels: image.maxAnimationPixels)
        limits.decodable = Set(image.decode.compactMap(ImageFormat.init(rawValue:)))
        self.init(
            settings: settings,
            limits: limits,
            maxDimension: image.maxDimension,
            timeBudget: image.timeout)
        // HEIC in a bounded child process, never in the worker (HEIFDecodeChild).
        let child = HEIFDecodeChild(timeout: image.timeout)
        heifDecoder = { bytes, info throws(ImageError) in try child.decode(bytes, info: info) }
    }
}
