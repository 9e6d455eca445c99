import Basics
import CSystemShims
#if canImport(Glibc)
import Glibc
#endif

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
/// holding a hundred requests. The child runs under `prlimit` (address
/// space `media_proxy.video_frame_memory`, CPU seconds, no core file),
/// with a wall-clock deadline after which it is killed, an empty signal
/// mask and environment, stdin from /dev/null, and ffmpeg told to read
/// only the local file and only MP4/QuickTime, Matroska/WebM containers
/// (`-protocol_whitelist file -format_whitelist …`): no playlist or concat
/// demuxer can make it open another file or a URL. The frame is scaled
/// down inside ffmpeg to the preview size, so the PNG stays small.
struct VideoFrame: Sendable {
    let ffmpeg: String
    let timeout: Double
    let memoryLimit: Int
    let maxDimension: Int
    /// Whether `unshare --net --map-root-user` works here (probed once, at start).
    let isolatesNetwork: Bool

    init(ffmpeg: String, timeout: Double, memoryLimit: Int, maxDimension: Int) {
        self.ffmpeg = ffmpeg
        self.timeout = timeout
        self.memoryLimit = memoryLimit
        self.maxDimension = maxDimension
        isolatesNetwork = Self.canIsolateNetwork()
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
        // A new file of our own (O_EXCL), never inherited by another child.
        var random = SystemRandomNumberGenerator()
        let path = "/tmp/herd-video-\(getpid())-\(SourceHash.hex(random.next()))"
        let file = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard file >= 0 else { return .failure(Failure(description: "cannot create a temporary file: errno \(errno)")) }
        defer { unlink(path) }
        let wrote = video.withUnsafeBytes { writeAll(file, $0) }
        close(file)
        guard wrote else { return .failure(Failure(description: "cannot write the temporary file: errno \(errno)")) }

        var pipeEnds: [Int32] = [-1, -1]
        guard herd_pipe_cloexec(&pipeEnds) == 0 else { return .failure(Failure(description: "pipe: errno \(errno)")) }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        defer { close(readEnd) }

        let scale = "scale=w='min(iw,\(maxDimension))':h='min(ih,\(maxDimension))':force_original_aspect_ratio=decrease"
        var arguments = [ffmpeg, "-nostdin", "-hide_banner", "-loglevel", "error", "-threads", "1",
                         "-protocol_whitelist", "file", "-format_whitelist", "mov,matroska",
                         "-i", path, "-frames:v", "1", "-an", "-sn", "-dn", "-vf", scale,
                         "-f", "image2pipe", "-c:v", "png", "pipe:1"]
        if isolatesNetwork { arguments = [Self.unshare, "--net", "--map-root-user", "--"] + arguments }
        // Never without limits: no prlimit, no video previews.
        guard access(Self.prlimit, X_OK) == 0 else {
            return .failure(Failure(description: "\(Self.prlimit) not found: ffmpeg is never run without limits"))
        }
        arguments = [Self.prlimit, "--as=\(memoryLimit)", "--cpu=\(Int(timeout.rounded(.up)))", "--core=0", "--"] + arguments
        let started = MonotonicClock.now()
        guard let child = Self.spawn(arguments, stdout: writeEnd) else {
            close(writeEnd)
            return .failure(Failure(description: "cannot start \(arguments[0]): errno \(errno)"))
        }
        close(writeEnd)

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var failure: String? = nil
        while true {
            let remaining = timeout - (MonotonicClock.now() - started)
            if remaining <= 0 { failure = "over the \(timeout) s limit"; break }
            var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&poller, 1, Int32(min(remaining * 1000, 1000).rounded(.up)))
            if ready < 0, errno == EINTR { continue }
            if ready <= 0 { continue }
            let count = buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
            if count < 0, errno == EINTR { continue }
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
            if output.count > Self.maxOutputBytes { failure = "a frame over \(Self.maxOutputBytes) bytes"; break }
        }
        // The output ended; the child must end too, by the same deadline.
        var status: Int32 = 0
        var reaped = false
        while failure == nil {
            let result = waitpid(child, &status, WNOHANG)
            if result == child { reaped = true; break }
            if result < 0, errno != EINTR { reaped = true; break }
            if MonotonicClock.now() - started > timeout { failure = "still running after \(timeout) s"; break }
            var nothing = pollfd()
            _ = poll(&nothing, 0, 10)
        }
        if !reaped {
            kill(child, SIGKILL)
            while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        }
        if let failure { return .failure(Failure(description: "ffmpeg killed: \(failure)")) }
        // WIFEXITED and the exit status, or the signal that ended it.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            let how = status & 0x7f == 0 ? "exited with \((status >> 8) & 0xff)" : "ended by signal \(status & 0x7f)"
            return .failure(Failure(description: "ffmpeg \(how) (not a video it can read, or over its limits)"))
        }
        guard output.count > 8, output[0] == 0x89, output[1] == 0x50 else {
            return .failure(Failure(description: "ffmpeg gave no frame"))
        }
        return .success(output)
    }

    static let prlimit = "/usr/bin/prlimit"
    static let unshare = "/usr/bin/unshare"

    /// One try of `unshare --net --map-root-user -- true`.
    private static func canIsolateNetwork() -> Bool {
        guard access(unshare, X_OK) == 0,
              let child = spawn([unshare, "--net", "--map-root-user", "--", "/bin/true"], stdout: -1) else { return false }
        var status: Int32 = 0
        while waitpid(child, &status, 0) < 0 && errno == EINTR {}
        return status == 0
    }

    private func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let written = write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0, errno == EINTR { continue }
            guard written > 0 else { return false }
            offset += written
        }
        return true
    }

    /// posix_spawn with stdout on `stdout`, stdin and stderr on /dev/null,
    /// no inherited descriptor (every one herd opens is close-on-exec), no
    /// environment but PATH, every signal unblocked and SIGPIPE default.
    private static func spawn(_ arguments: [String], stdout: Int32) -> pid_t? {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        if stdout >= 0 {
            posix_spawn_file_actions_adddup2(&actions, stdout, 1)
        } else {
            posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        }
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        // Whatever a library opened without close-on-exec stays here.
        _ = herd_spawn_close_from(&actions, 3)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        sigaddset(&defaults, SIGPIPE)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv: [UnsafeMutablePointer<CChar>?] = arguments.map { strdup($0) } + [nil]
        let envp: [UnsafeMutablePointer<CChar>?] = [strdup("PATH=/usr/bin:/bin"), nil]
        defer { for pointer in argv + envp { free(pointer) } }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
        guard result == 0 else {
            errno = result
            return nil
        }
        return pid
    }
}
