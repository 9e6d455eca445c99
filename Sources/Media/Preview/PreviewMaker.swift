import Imaging
import Settings

/// What a worker makes previews with (`media_proxy.*`): the image pipeline
/// at the preview size and quality, and ffmpeg for a video's first frame.
struct PreviewMaker: Sendable {
    let pipeline: ImagePipeline
    /// Sources smaller than this are redirected to the original.
    let minBytes: Int
    /// nil when `media_proxy.ffmpeg` is empty: videos redirect to the original.
    let video: VideoFrame?

    init(configuration: HerdConfiguration) {
        let mediaProxy = configuration.mediaProxy
        var pipeline = ImagePipeline(configuration)
        pipeline.maxDimension = mediaProxy.previewMaxDimension
        // Akkoma's quality 85 is a JPEG quality; WebP's scale is close to
        // it. AVIF keeps `image.avif_quality`, whose scale is its own.
        pipeline.settings.jpegQuality = mediaProxy.previewQuality
        pipeline.settings.webpQuality = mediaProxy.previewQuality
        // No lossless WebP try for previews: a PNG photo (or a video's
        // frame, which ffmpeg hands over as PNG) took 10× as long for it
        // (make bench-preview: 150 ms against 12 ms).
        pipeline.settings.webpLosslessMaxPixels = 0
        self.pipeline = pipeline
        minBytes = mediaProxy.previewMinBytes
        video = mediaProxy.ffmpeg.isEmpty ? nil : VideoFrame(
            ffmpeg: mediaProxy.ffmpeg, timeout: mediaProxy.videoFrameTimeout,
            memoryLimit: mediaProxy.videoFrameMemory, maxDimension: mediaProxy.previewMaxDimension)
    }
}
