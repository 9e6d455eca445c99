import Foundation
import HerdTestSupport
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

    // MARK: Purges over HTTP (herd purge-server behind the shipped nginx)

    static let secret = "herd-test-purge-secret-0123456789"

    /// A request as Mastodon's CacheBuster sends it (Request: its User-Agent,
    /// Date and Accept-Encoding; the secret in CACHE_BUSTER_SECRET_HEADER).
    static func cacheBuster(_ stack: AppStack, _ path: String, method: String = "PURGE", secret: String? = PurgeTests.secret)
        throws -> HTTPResponse {
        var headers = [("User-Agent", "Mastodon/4.5.0 (http.rb/5.2.0; +https://localhost/)"),
                       ("Date", Signer.httpDate()), ("Accept-Encoding", "gzip")]
        if let secret { headers.append(("X-Herd-Purge-Secret", secret)) }
        return try stack.get(path, method: method, headers: headers)
    }

    @Test("over HTTP, as Mastodon's cache buster sends it: a wrong or missing secret is refused (403, logged, nothing removed, nothing reaches the app); the right one removes every variant here and in the workers")
    func overHTTP() throws {
        let stack = try AppStack(workers: 2, purgeSecret: Self.secret)
        defer { stack.stop() }
        let purged = PassthroughTests.photo
        for accept in Self.accepts {
            _ = try stack.get(purged, headers: [("Accept", accept)])
            #expect(try stack.get(purged, headers: [("Accept", accept)]).header("X-Cache-Status") == "HIT")
        }
        let cache = stack.directory.appendingPathComponent("cache/media")
        let before = Self.cacheFiles(cache)
        let originBefore = try stack.originHits()

        for (method, secret) in [("PURGE", nil), ("PURGE", "wrong"), ("GET", "wrong"), ("PURGE", Self.secret + "x"), ("HEAD", "w")] {
            let refused = try Self.cacheBuster(stack, purged, method: method, secret: secret)
            #expect(refused.status == 403, "\(method) \(secret ?? "-"): \(refused.status) \(refused.text)")
            #expect(refused.header("X-Cache-Status") == nil && refused.header("Cache-Control") == "no-store")
        }
        #expect(Self.cacheFiles(cache) == before, "a refused purge removed something")
        #expect(try stack.originHits() == originBefore, "a purge request reached the app")
        let log = stack.purgeServer?.log ?? ""
        #expect(log.contains("purge refused") && !log.contains("wrong\"") && !log.contains(Self.secret), "\(log)")

        let answer = try Self.cacheBuster(stack, purged)
        #expect(answer.status == 200, "\(answer.status) \(answer.text)")
        let report = try #require(try JSONSerialization.jsonObject(with: Data(answer.body)) as? [String: Any])
        #expect(report["removed"] as? Int == 3 && report["workers_forgot"] as? Int == 1 && report["workers_told"] as? Int == 2,
                "\(answer.text)")
        #expect(answer.header("Cache-Control") == "no-store")
        #expect(before.subtracting(Self.cacheFiles(cache)).count == 3)
        for accept in Self.accepts {
            #expect(try stack.get(purged, headers: [("Accept", accept)]).header("X-Cache-Status") == "MISS", "\(accept)")
        }
        #expect((try stack.originHits()[purged] ?? 0) == (originBefore[purged] ?? 0) + 1, "fetched again, once")

        // Mastodon's default method: a GET carrying the secret is a purge too.
        let get = try Self.cacheBuster(stack, purged, method: "GET")
        #expect(get.status == 200 && get.text.contains("\"removed\":3"), "\(get.text)")
        #expect(Self.cacheFiles(cache) == before.subtracting(before), "every entry of that URL is gone")
    }

    @Test("over HTTP, as Akkoma's Invalidation.Http sends it (PURGE with the configured header), to a /media/ URL")
    func overHTTPAkkoma() throws {
        let stack = try AppStack(.akkoma, workers: 1, purgeSecret: Self.secret)
        defer { stack.stop() }
        let path = "/media/2f/8a/kite.jpg"
        for accept in Self.accepts { _ = try stack.get(path, headers: [("Accept", accept)]) }
        let cache = stack.directory.appendingPathComponent("cache/media")
        #expect(Self.cacheFiles(cache).count == 3)
        // Pleroma.HTTP: Tesla with its own user agent, the headers as configured.
        let answer = try stack.get(path, method: "PURGE", headers: [("User-Agent", "Akkoma 3.16.0; https://localhost <admin@localhost>"),
                                                                    ("X-Herd-Purge-Secret", Self.secret)])
        #expect(answer.status == 200 && answer.text.contains("\"removed\":3"), "\(answer.status) \(answer.text)")
        #expect(Self.cacheFiles(cache).isEmpty)
        // Akkoma logs an error for a 4xx: a purge it cannot make is not silent.
        #expect(try stack.get(path, method: "PURGE").status == 403)
    }

    @Test("a second pass, purge.repeat_after later, removes what was stored while the first ran")
    func secondPass() throws {
        let stack = try AppStack(workers: 1, purgeSecret: Self.secret, purgeArguments: ["--set", "purge.repeat_after=1"])
        defer { stack.stop() }
        let path = PassthroughTests.photo
        _ = try stack.get(path, headers: [("Accept", "*/*")])
        let cache = stack.directory.appendingPathComponent("cache/media")
        #expect(Self.cacheFiles(cache).count == 1)
        #expect(try Self.cacheBuster(stack, path).status == 200)
        // A fill right after the first pass (as one under way when the purge
        // came would be): stored again…
        #expect(try stack.get(path, headers: [("Accept", "*/*")]).header("X-Cache-Status") == "MISS")
        #expect(Self.cacheFiles(cache).count == 1)
        // …and gone after the second pass.
        #expect(Wait.until(timeout: 10) { Self.cacheFiles(cache).isEmpty }, "the second pass did not remove it")
        #expect(Wait.until(timeout: 5) { (stack.purgeServer?.log ?? "").contains("purged again") }, "\(stack.purgeServer?.log ?? "")")
    }

    @Test("without a secret, herd purge-server does not start (exit 2, naming the key); a short secret is refused")
    func purgeServerNeedsASecret() throws {
        let none = try PackageTests.run(Paths.herdBinary, ["purge-server", "--bind", "/tmp/herd-purge-test-\(getpid()).sock"])
        #expect(none.status == 2 && none.output.contains("purge.secret"), "\(none.output)")
        let short = try PackageTests.run(Paths.herdBinary, ["purge-server", "--bind", "/tmp/herd-purge-test-\(getpid()).sock"],
                                         environment: ["HERD_PURGE_SECRET": "short"])
        #expect(short.status == 2 && short.output.contains("16 or more"), "\(short.output)")
        // A bad secret is refused without being shown (messages reach the journal).
        let bad = try PackageTests.run(Paths.herdBinary, ["check-config", "--upstream", "https://a.example"],
                                       environment: ["HERD_PURGE_SECRET": "secret-with-a-stray-cr\r"])
        #expect(bad.status == 2 && bad.output.contains("purge.secret") && !bad.output.contains("stray"), "\(bad.output)")
        let shown = try PackageTests.run(Paths.herdBinary, ["check-config", "--upstream", "https://a.example"],
                                         environment: ["HERD_PURGE_SECRET": Self.secret])
        #expect(!shown.output.contains(Self.secret) && shown.output.contains("secret = \"(set, not shown)\""), "\(shown.output)")
    }
}
