import Foundation
import Testing

/// `herd purge URL…` against a real nginx cache and a real worker.
@Suite("herd purge")
struct PurgeTests {
    static let accepts = [ConversionTests.chrome, "image/webp,*/*", "*/*"]

    static func cacheFiles(_ directory: URL) -> Set<String> {
        let enumerator = FileManager.default.enumerator(atPath: directory.path)
        var files: Set<String> = []
        while let name = enumerator?.nextObject() as? String {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: directory.appendingPathComponent(name).path, isDirectory: &isDirectory),
               !isDirectory.boolValue { files.insert(name) }
        }
        return files
    }

    static func purge(_ stack: AppStack, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let herd = try ChildProcess(name: "purge-\(UUID().uuidString.prefix(8))", executable: Paths.herdBinary,
                                    arguments: ["purge", "--cache-dir", stack.directory.appendingPathComponent("cache/media").path,
                                                "--set", "purge.sockets=\(stack.sockets.joined(separator: ","))"] + arguments,
                                    directory: stack.directory)
        let status = herd.waitForExit(timeout: 30) ?? -1
        return (status, herd.log)
    }

    @Test("HIT → purge → MISS with one new origin request, for every variant; nothing else in the cache is touched")
    func roundTrip() throws {
        let stack = try AppStack(workers: 2)
        defer { stack.stop() }
        let purged = PassthroughTests.photo
        let kept = "/system/media_attachments/files/000/000/003/original/water.jpg"
        for path in [purged, kept] {
            for accept in Self.accepts {
                _ = try stack.get(path, headers: [("Accept", accept)])
                let again = try stack.get(path, headers: [("Accept", accept)])
                #expect(again.header("X-Cache-Status") == "HIT", "\(path) \(accept)")
            }
        }
        let cache = stack.directory.appendingPathComponent("cache/media")
        let before = Self.cacheFiles(cache)
        #expect(before.count >= 6)
        let originBefore = try stack.originHits()[purged] ?? 0

        let result = try Self.purge(stack, ["http://localhost\(purged)"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.contains("3 cached variants removed"), "\(result.output)")
        #expect(result.output.contains("forgotten by 1 of 2 workers"), "\(result.output)")
        let after = Self.cacheFiles(cache)
        #expect(before.subtracting(after).count == 3)
        #expect(after.isSubset(of: before), "purge added files?")

        for accept in Self.accepts {
            let response = try stack.get(purged, headers: [("Accept", accept)])
            #expect(response.status == 200)
            #expect(response.header("X-Cache-Status") == "MISS", "\(accept)")
        }
        #expect((try stack.originHits()[purged] ?? 0) == originBefore + 1, "the worker fetched the source again, once")
        for accept in Self.accepts {
            #expect(try stack.get(kept, headers: [("Accept", accept)]).header("X-Cache-Status") == "HIT", "\(kept) \(accept)")
            #expect(try stack.get(purged, headers: [("Accept", accept)]).header("X-Cache-Status") == "HIT", "\(purged) \(accept)")
        }
    }

    @Test("URLs space-separated in one argument (Akkoma's invalidation script); a file that holds another key is left alone")
    func akkomaStyleAndForeignFiles() throws {
        let stack = try AppStack(workers: 2)
        defer { stack.stop() }
        let first = PassthroughTests.photo
        let second = "/system/media_attachments/files/000/000/003/original/water.jpg"
        for path in [first, second] { _ = try stack.get(path, headers: [("Accept", ConversionTests.chrome)]) }
        let result = try Self.purge(stack, ["http://localhost\(first) http://localhost\(second) http://localhost/system/never-cached.png"])
        #expect(result.status == 0, "\(result.output)")
        #expect(result.output.components(separatedBy: "1 cached variant removed").count - 1 == 2, "\(result.output)")
        #expect(result.output.contains("never-cached.png: 0 cached variants removed"), "\(result.output)")
        #expect(Self.cacheFiles(stack.directory.appendingPathComponent("cache/media")).isEmpty)

        // A file where a key's entry would be, holding another key: kept.
        let cache = stack.directory.appendingPathComponent("cache/media")
        _ = try stack.get(first, headers: [("Accept", ConversionTests.chrome)])
        let file = try #require(Self.cacheFiles(cache).first)
        var bytes = try Data(contentsOf: cache.appendingPathComponent(file))
        let marker = Data("\nKEY: ".utf8)
        let at = try #require(bytes.range(of: marker))
        bytes[at.upperBound] = UInt8(ascii: "X")  // "httpXlocalhost…": not the key asked for
        try bytes.write(to: cache.appendingPathComponent(file))
        let again = try Self.purge(stack, ["http://localhost\(first)"])
        #expect(again.output.contains("0 cached variants removed"), "\(again.output)")
        #expect(Self.cacheFiles(cache).contains(file))
    }

    @Test("not a URL: a clear error, exit 1")
    func badURL() throws {
        let stack = try AppStack(workers: 2)
        defer { stack.stop() }
        let result = try Self.purge(stack, ["/relative/path"])
        #expect(result.status == 1)
        #expect(result.output.contains("not an http(s) URL"))
    }
}
