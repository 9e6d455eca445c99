import Basics
import Crypto
import Foundation
import Imaging
import System

/// Optimized answers on disk: bounded in bytes (least recently served
/// removed first), kept across restarts (the directory is read again at
/// start), one directory per source so a purge removes all of a source's
/// answers at once. Every entry carries its key, its length and the
/// SHA-256 of its body: a file that was cut short, changed or belongs to
/// another key is removed when read, never served.
///
///     DIR/<source hash>/<answer hash>.opt
///     HERDOPT1\n{"tag":…,"source":…,"format":"avif","length":…,"sha256":…,"quality":…,"score":…}\n<body>
final class OptimizedStore: @unchecked Sendable {
    struct Entry: Codable, Sendable, Equatable {
        var tag: String
        var source: String
        var format: String
        var length: Int
        var sha256: String
        var quality: Int
        var score: Double
    }

    struct Answer: Sendable {
        var entry: Entry
        var body: [UInt8]
        var outputFormat: OutputFormat? { OutputFormat(rawValue: entry.format) }
    }

    static let magic = Array("HERDOPT1\n".utf8)
    /// Longer bodies are not stored (the store holds converted images).
    static let maxBodyBytes = 64 << 20

    let directory: URL
    let maxBytes: Int
    private let lock = Locked(State())
    /// Held across a write or a removal on disk and its bookkeeping, so a
    /// purge and a write of the same source cannot interleave.
    private let disk = Locked(())

    private struct State {
        /// path → (size on disk, last served or written)
        var files: [String: (bytes: Int, used: Int)] = [:]
        var total = 0
        var clock = 0
        var corrupt = 0
    }

    init(directory: String, maxBytes: Int) throws {
        self.directory = URL(fileURLWithPath: directory, isDirectory: true)
        self.maxBytes = maxBytes
        try FileManager.default.createDirectory(at: self.directory, withIntermediateDirectories: true)
        // What survived the restart, oldest first by modification time.
        var found: [(path: String, bytes: Int, modified: Date)] = []
        let keys: [URLResourceKey] = [.fileSizeKey, .contentModificationDateKey, .isRegularFileKey]
        if let walker = FileManager.default.enumerator(at: self.directory, includingPropertiesForKeys: keys) {
            for case let url as URL in walker {
                guard let values = try? url.resourceValues(forKeys: Set(keys)), values.isRegularFile == true else { continue }
                guard url.pathExtension == "opt" else {
                    // A write cut short (the worker killed mid-write) leaves
                    // its temporary file: nothing reads it, so it goes.
                    try? FileManager.default.removeItem(at: url)
                    continue
                }
                found.append((url.path, values.fileSize ?? 0, values.contentModificationDate ?? .distantPast))
            }
        }
        lock.withLock { state in
            for (index, file) in found.sorted(by: { $0.modified < $1.modified }).enumerated() {
                state.files[file.path] = (file.bytes, index)
                state.total += file.bytes
            }
            state.clock = found.count
        }
        evict()
    }

    var totalBytes: Int { lock.withLock { $0.total } }
    var entryCount: Int { lock.withLock { $0.files.count } }
    /// Entries found damaged and removed since start.
    var corruptEntries: Int { lock.withLock { $0.corrupt } }

    func path(for key: OptimizationKey) -> URL {
        directory.appendingPathComponent(Self.hash(key.source), isDirectory: true)
            .appendingPathComponent(Self.hash(key.tag) + ".opt")
    }

    static func hash(_ text: String) -> String {
        SHA256.hash(data: Array(text.utf8)).prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// The stored answer for `key`, checked whole; nil when there is none,
    /// or it was damaged (then removed).
    func answer(for key: OptimizationKey) -> Answer? {
        let url = path(for: key)
        guard lock.withLock({ $0.files[url.path] != nil }) else { return nil }
        guard let data = try? Data(contentsOf: url) else {
            forget(url.path)
            return nil
        }
        guard let answer = Self.parse([UInt8](data)), answer.entry.tag == key.tag, answer.entry.source == key.source else {
            lock.withLock { $0.corrupt += 1 }
            try? FileManager.default.removeItem(at: url)
            forget(url.path)
            return nil
        }
        lock.withLock { state in
            state.clock += 1
            state.files[url.path]?.used = state.clock
        }
        return answer
    }

    /// The entry from a file's bytes, when they are whole and match their checksum.
    static func parse(_ bytes: [UInt8]) -> Answer? {
        guard bytes.starts(with: magic), let newline = bytes[magic.count...].firstIndex(of: 0x0a) else { return nil }
        guard let entry = try? JSONDecoder().decode(Entry.self, from: Data(bytes[magic.count..<newline])) else { return nil }
        let body = Array(bytes[(newline + 1)...])
        guard body.count == entry.length, hex(SHA256.hash(data: body)) == entry.sha256 else { return nil }
        return Answer(entry: entry, body: body)
    }

    static func hex(_ digest: SHA256.Digest) -> String { digest.map { String(format: "%02x", $0) }.joined() }

    /// Stores an answer (written to a temporary file, then renamed: a
    /// reader sees the whole entry or none), then trims the store to its cap.
    /// `unless` is asked with writes and purges held off: true (the
    /// source was purged meanwhile) and nothing is written. Whether it was.
    @discardableResult
    func put(_ key: OptimizationKey, body: [UInt8], format: OutputFormat, quality: Int, score: Double,
             unless skip: () -> Bool = { false }) -> Bool {
        guard body.count <= Self.maxBodyBytes, body.count < maxBytes else { return false }
        let entry = Entry(tag: key.tag, source: key.source, format: format.rawValue, length: body.count,
                          sha256: Self.hex(SHA256.hash(data: body)), quality: quality, score: score)
        guard let header = try? JSONEncoder().encode(entry) else { return false }
        let url = path(for: key)
        let written = disk.withLock { _ -> Bool in
            guard !skip() else { return false }
            do {
                try FileManager.default.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
                // .atomic: written beside, then renamed over.
                try Data(Self.magic + [UInt8](header) + [0x0a] + body).write(to: url, options: .atomic)
            } catch {
                return false
            }
            let size = Self.magic.count + header.count + 1 + body.count
            lock.withLock { state in
                state.total -= state.files[url.path]?.bytes ?? 0
                state.clock += 1
                state.files[url.path] = (size, state.clock)
                state.total += size
            }
            return true
        }
        if written { evict() }
        return written
    }

    /// Removes every answer of `source` (a purge). Returns how many.
    @discardableResult
    func remove(source: String) -> Int {
        let folder = directory.appendingPathComponent(Self.hash(source), isDirectory: true)
        let prefix = folder.path + "/"
        return disk.withLock { _ in
            let removed = lock.withLock { state -> Int in
                let paths = state.files.keys.filter { $0.hasPrefix(prefix) }
                for path in paths {
                    state.total -= state.files[path]?.bytes ?? 0
                    state.files[path] = nil
                }
                return paths.count
            }
            try? FileManager.default.removeItem(at: folder)
            return removed
        }
    }

    private func forget(_ path: String) {
        lock.withLock { state in
            state.total -= state.files[path]?.bytes ?? 0
            state.files[path] = nil
        }
    }

    /// Least recently served first, until the store fits its cap.
    private func evict() {
        let victims = lock.withLock { state -> [String] in
            guard state.total > maxBytes else { return [] }
            var victims: [String] = []
            for (path, file) in state.files.sorted(by: { $0.value.used < $1.value.used }) {
                guard state.total > maxBytes else { break }
                state.total -= file.bytes
                state.files[path] = nil
                victims.append(path)
            }
            return victims
        }
        for path in victims { try? FileManager.default.removeItem(atPath: path) }
    }
}
