import CSystemShims
#if canImport(Glibc)
import Glibc
#endif

/// The directory media files are read from (`upstream.root`), opened once
/// at start (a symlinked root is resolved then). Every file is opened
/// below it with openat2(RESOLVE_BENEATH): `..` above the root, absolute
/// paths and symlinks that lead out of it fail in the kernel, whatever the
/// path says, and no file is followed by name a second time.
public final class DiskRoot: Sendable {
    /// The resolved root, as nginx's internal location must alias it.
    public let path: String
    private let descriptor: Int32

    public enum OpenError: Error, Equatable {
        /// No such file (or a directory on the way is missing).
        case notFound
        /// The path leads outside the root (a symlink or `..`).
        case outsideRoot
        /// A directory, a FIFO, a device: nothing to serve.
        case notAFile
        case system(Int32)

        /// Nothing a client may have: missing, not a file, a name too long,
        /// or a file herd's user may not read (a 404, not an error).
        public var meansNotFound: Bool {
            switch self {
            case .notFound, .notAFile: true
            case .system(let code): code == ENAMETOOLONG || code == EACCES
            case .outsideRoot: false
            }
        }
    }

    /// A regular file below the root, open for reading.
    public struct File {
        public let descriptor: Int32
        public let size: Int
        /// stat's identity and time: the ETag and Last-Modified.
        public let inode: UInt64
        public let modified: timespec

        public func close() { _ = Glibc.close(descriptor) }

        /// `"ino-size-mtime"` in hex: changes with any write or replacement.
        public var etag: String {
            "\"\(String(inode, radix: 16))-\(String(size, radix: 16))-\(String(modified.tv_sec, radix: 16))\(String(modified.tv_nsec, radix: 16))\""
        }

        /// Up to `count` bytes from `offset`.
        public func read(_ count: Int, at offset: Int = 0) -> [UInt8]? {
            var bytes = [UInt8](repeating: 0, count: count)
            var filled = 0
            while filled < count {
                guard let got = try? retryingOnInterrupt("pread", {
                    bytes.withUnsafeMutableBytes { pread(descriptor, $0.baseAddress! + filled, count - filled, off_t(offset + filled)) }
                }) else { return nil }
                if got == 0 { break }
                filled += got
            }
            return Array(bytes.prefix(filled))
        }
    }

    /// Opens the root; nil with a reason when it is not a directory.
    public init(_ configured: String) throws(OpenError) {
        guard let resolved = realpath(configured, nil) else { throw .system(errno) }
        path = String(cString: resolved)
        free(resolved)
        descriptor = Glibc.open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard descriptor >= 0 else { throw .system(errno) }
    }

    deinit { _ = Glibc.close(descriptor) }

    /// Opens `relative` (a request path without its leading slash; it has
    /// passed RequestTarget's checks) below the root.
    public func open(_ relative: String) throws(OpenError) -> File {
        var trimmed = Substring(relative)
        while trimmed.hasPrefix("/") { trimmed = trimmed.dropFirst() }
        guard !trimmed.isEmpty else { throw .notAFile }
        let fd = herd_open_beneath(descriptor, String(trimmed))
        guard fd >= 0 else {
            switch errno {
            case ENOENT, ENOTDIR: throw .notFound
            case EXDEV, ELOOP: throw .outsideRoot
            case let code: throw .system(code)
            }
        }
        var info = stat()
        guard fstat(fd, &info) == 0 else {
            let code = errno
            _ = Glibc.close(fd)
            throw .system(code)
        }
        guard info.st_mode & S_IFMT == S_IFREG else {
            _ = Glibc.close(fd)
            throw .notAFile
        }
        return File(descriptor: fd, size: Int(info.st_size), inode: UInt64(info.st_ino), modified: info.st_mtim)
    }
}
