import CSystemShims
#if canImport(Glibc)
import Glibc
#endif

/// A decoder run in a process of its own, bounded in memory, CPU and wall
/// time: what herd does with the largest attack surfaces in its media stack
/// (ffmpeg for video frames, libheif/libde265 for HEIC). A crash, a hang or
/// a runaway allocation there costs one child, never a worker holding a
/// hundred requests.
///
/// The input goes to a new temporary file of its own (O_EXCL, mode 0600,
/// removed afterwards); the child runs under `prlimit` (address space, CPU
/// seconds, no core file; never without it), without a network where
/// unprivileged namespaces allow (`unshare --net`), with an empty signal
/// mask, no environment but PATH, stdin and stderr on /dev/null and no
/// inherited descriptor; stdout is read up to a cap, and the child is
/// killed at the wall-clock deadline.
public struct BoundedChild: Sendable {
    public struct Limits: Sendable {
        /// Address space, bytes (RLIMIT_AS).
        public var memory: Int
        /// Wall-clock seconds; CPU seconds are capped to the same.
        public var timeout: Double
        /// Most bytes read from the child's stdout.
        public var maxOutputBytes: Int

        public init(memory: Int, timeout: Double, maxOutputBytes: Int) {
            self.memory = memory
            self.timeout = timeout
            self.maxOutputBytes = maxOutputBytes
        }
    }

    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// Whether `unshare --net --map-root-user` works here (probed once per process).
    public static let isolatesNetwork: Bool = canIsolateNetwork()

    static let prlimit = "/usr/bin/prlimit"
    static let unshare = "/usr/bin/unshare"

    /// Writes `input` to a temporary file, runs `arguments(path)` under the
    /// limits and returns what it wrote on stdout, if it exited with 0.
    /// `name` is the program's name in failures.
    public static func run(_ name: String, input: [UInt8], limits: Limits, arguments: (String) -> [String]) -> Result<[UInt8], Failure> {
        var random = SystemRandomNumberGenerator()
        let path = "/tmp/herd-\(name)-\(getpid())-\(String(random.next() as UInt64, radix: 16))"
        let file = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard file >= 0 else { return .failure(Failure(description: "cannot create a temporary file: errno \(errno)")) }
        defer { unlink(path) }
        let wrote = input.withUnsafeBytes { writeAll(file, $0) }
        close(file)
        guard wrote else { return .failure(Failure(description: "cannot write the temporary file: errno \(errno)")) }

        var pipeEnds: [Int32] = [-1, -1]
        guard herd_pipe_cloexec(&pipeEnds) == 0 else { return .failure(Failure(description: "pipe: errno \(errno)")) }
        let (readEnd, writeEnd) = (pipeEnds[0], pipeEnds[1])
        defer { close(readEnd) }

        var command = arguments(path)
        if isolatesNetwork { command = [unshare, "--net", "--map-root-user", "--"] + command }
        guard access(prlimit, X_OK) == 0 else {
            return .failure(Failure(description: "\(prlimit) not found: \(name) is never run without limits"))
        }
        command = [prlimit, "--as=\(limits.memory)", "--cpu=\(max(1, Int(limits.timeout.rounded(.up))))", "--core=0", "--"] + command
        let started = MonotonicClock.now()
        guard let child = spawn(command, stdout: writeEnd) else {
            close(writeEnd)
            return .failure(Failure(description: "cannot start \(command[0]): errno \(errno)"))
        }
        close(writeEnd)

        var output: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 64 << 10)
        var failure: String? = nil
        while true {
            let remaining = limits.timeout - (MonotonicClock.now() - started)
            if remaining <= 0 { failure = "over the \(limits.timeout) s limit"; break }
            var poller = pollfd(fd: readEnd, events: Int16(POLLIN), revents: 0)
            let ready = (try? retryingOnInterrupt("poll") { poll(&poller, 1, Int32(min(remaining * 1000, 1000).rounded(.up))) }) ?? 0
            if ready <= 0 { continue }
            let count = (try? retryingOnInterrupt("read") { buffer.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) } }) ?? -1
            if count <= 0 { break }
            output.append(contentsOf: buffer[0..<count])
            if output.count > limits.maxOutputBytes { failure = "output over \(limits.maxOutputBytes) bytes"; break }
        }
        // The output ended; the child must end too, by the same deadline.
        var status: Int32 = 0
        var reaped = false
        while failure == nil {
            let result = (try? retryingOnInterrupt("waitpid") { waitpid(child, &status, WNOHANG) }) ?? -1
            if result == child || result < 0 { reaped = true; break }
            if MonotonicClock.now() - started > limits.timeout { failure = "still running after \(limits.timeout) s"; break }
            var nothing = pollfd()
            _ = poll(&nothing, 0, 10)
        }
        if !reaped {
            kill(child, SIGKILL)
            _ = try? retryingOnInterrupt("waitpid") { waitpid(child, &status, 0) }
        }
        if let failure { return .failure(Failure(description: "\(name) killed: \(failure)")) }
        // WIFEXITED and the exit status, or the signal that ended it.
        guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
            let how = status & 0x7f == 0 ? "exited with \((status >> 8) & 0xff)" : "ended by signal \(status & 0x7f)"
            return .failure(Failure(description: "\(name) \(how) (not a file it can read, or over its limits)"))
        }
        return .success(output)
    }

    /// One try of `unshare --net --map-root-user -- true`.
    private static func canIsolateNetwork() -> Bool {
        guard access(unshare, X_OK) == 0,
              let child = spawn([unshare, "--net", "--map-root-user", "--", "/bin/true"], stdout: -1) else { return false }
        var status: Int32 = 0
        _ = try? retryingOnInterrupt("waitpid") { waitpid(child, &status, 0) }
        return status == 0
    }

    private static func writeAll(_ descriptor: Int32, _ bytes: UnsafeRawBufferPointer) -> Bool {
        var offset = 0
        while offset < bytes.count {
            guard let written = try? retryingOnInterrupt("write", { write(descriptor, bytes.baseAddress! + offset, bytes.count - offset) }),
                  written > 0 else { return false }
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

/// Runs `body` in a forked copy of this process, quietly (stderr to
/// /dev/null, no crash backtrace), and says whether it ended normally: for
/// a library call that may abort the process on hostile input (TOMLKit's
/// parser does). If the process cannot fork, `body` is assumed to survive.
public enum ForkedProbe {
    public static func survives(_ body: () -> Void) -> Bool {
        let child = fork()
        if child == 0 {
            signal(SIGABRT, SIG_DFL)
            let null = open("/dev/null", O_WRONLY)
            if null >= 0 { dup2(null, 2) }
            body()
            _exit(0)
        }
        guard child > 0 else { return true }
        var status: Int32 = 0
        guard (try? retryingOnInterrupt("waitpid", { waitpid(child, &status, 0) })) != nil else { return true }
        // Exited normally (WIFEXITED: the low seven bits are zero) with 0.
        return status & 0x7f == 0 && (status >> 8) & 0xff == 0
    }
}
