import Basics
import System

/// A video's first frame, as PNG, made by ffmpeg in a process of its own.
///
/// Measured here (Debian's ffmpeg 5.1, one 1080p MP4): 65 MB resident,
/// 0.11 s; its address space needs about 500 MB (the shared libraries
/// reserve it), hence `video_frame_memory` 512 MB of address space, which
/// is not memory used. Where unprivileged namespaces are allowed, the
/// child also runs without a network (`unshare --net`): even an exploited
/// decoder cannot reach the addresses the guard protects. (The shipped
/// systemd unit forbids namespaces, `RestrictNamespaces=yes`; there the
/// unit's own sandbox applies to the child.)
///
/// Why a process and not libav* linked in: a hostile video is decoded by
/// the largest attack surface in the media stack, and a crash, a hang or a
/// runaway allocation there must cost one child process, never a worker
/// holding a hundred requests. The child runs as a `BoundedChild` (address
/// space `media_proxy.video_frame_memory`, CPU seconds, no core file, a
/// wall-clock deadline after which it is killed), and ffmpeg is told to read
/// only the local file and only MP4/QuickTime, Matroska/WebM containers
/// (`-protocol_whitelist file -format_whitelist …`): no playlist or concat
/// demuxer can make it open another file or a URL. The frame is scaled
/// down inside ffmpeg to the preview size, so the PNG stays small.
struct VideoFrame: Sendable {
    let ffmpeg: String
    let timeout: Double
    let memoryLimit: Int
    let maxDimension: Int

    init(ffmpeg: String, timeout: Double, memoryLimit: Int, maxDimension: Int) {
        self.ffmpeg = ffmpeg
        self.timeout = timeout
        self.memoryLimit = memoryLimit
        self.maxDimension = maxDimension
        _ = BoundedChild.isolatesNetwork  // probed once, at start
    }

    /// The resident memory one extraction is counted for in the worker's
    /// conversion budget (measured ~65 MB for a 1080p frame, plus margin),
    /// with the temporary copy of the source.
    static func estimatedBytes(sourceBytes: Int) -> Int {
        2 * sourceBytes + (128 << 20)
    }
    /// Largest PNG read back.
    static let maxOutputBytes = 32 << 20

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Whether the bytes (or the type the remote declared) are a video this
    /// can read: ISO BMFF (`ftyp`, not an AVIF image) or EBML (WebM, Matroska).
    static func looksLikeVideo(_ bytes: [UInt8], contentType: String?) -> Bool {
        if bytes.count >= 12, bytes[4...7].elementsEqual("ftyp".utf8) { return true }
        if bytes.count >= 4, bytes[0...3].elementsEqual([0x1A, 0x45, 0xDF, 0xA3]) { return true }
        return contentType?.lowercased().hasPrefix("video/") == true && bytes.count >= 12
    }

    func firstFrame(of video: [UInt8]) -> Result<[UInt8], Failure> {
        let scale = "scale=w='min(iw,\(maxDimension))':h='min(ih,\(maxDimension))':force_original_aspect_ratio=decrease"
        let limits = BoundedChild.Limits(memory: memoryLimit, timeout: timeout, maxOutputBytes: Self.maxOutputBytes)
        let ran = BoundedChild.run("ffmpeg", input: video, limits: limits) { path in
            [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
             "-protocol_whitelist", "file", "-format_whitelist", "mov,matroska",
             "-i", path, "-frames:v", "1", "-an", "-sn", "-dn", "-vf", scale,
             "-f", "image2pipe", "-c:v", "png", "pipe:1"]
        }
        switch ran {
        case .failure(let failure):
            return .failure(Failure(description: failure.description))
        case .success(let output):
            guard output.count > 8, output[0] == 0x89, output[1] == 0x50 else {
                return .failure(Failure(description: "ffmpeg gave no frame"))
            }
            return .success(output)
        }
    }
}
