import Foundation
import Testing
#if canImport(Glibc)
import Glibc
import HerdTestSupport
#endif

/// Several herd workers behind nginx's `hash $herd_source consistent`, with
/// one fetch per source, failures shared, dead and restarting workers.
@Suite("Worker pool and single flight", .serialized)
struct PoolTests {
    static let chrome = "image/avif,image/webp,image/apng,image/svg+xml,image/*,*/*;q=0.8"
    static let safari16 = "image/webp,image/png,image/svg+xml,image/*;q=0.8,video/*;q=0.8,*/*;q=0.5"
    static let accepts = [chrome, safari16, "*/*"]

    /// `count` concurrent requests, spread over the three variants.
    static func burst(_ stack: AppStack, path: String, count: Int, extraHeaders: [(String, String)] = []) -> [Result<HTTPResponse, Error>] {
        let results = ResultsBox()
        let group = DispatchGroup()
        for index in 0..<count {
            group.enter()
            Thread {
                results.append(Result { try stack.get(path, headers: [("Accept", accepts[index % 3])] + extraHeaders, timeout: 60) })
                group.leave()
            }.start()
        }
        _ = group.wait(timeout: .now() + 120)
        return results.all
    }

    @Test("200 concurrent cold requests over avif, webp and orig → exactly 1 origin GET, cached by nginx and bypassed")
    func oneFetch() throws {
        let stack = try AppStack(workers: 4)
        defer { stack.stop() }
        for (path, headers) in [
            ("/system/media_attachments/files/000/000/001/original/photo.jpg?delay=0.5", [(String, String)]()),
            ("/system/media_attachments/files/000/000/003/original/water.jpg?delay=0.5", [("Authorization", "Bearer x")]),
        ] {
            let results = Self.burst(stack, path: path, count: 200, extraHeaders: headers)
            let responses = results.compactMap { try? $0.get() }
            #expect(responses.count == 200)
            #expect(responses.allSatisfy { $0.status == 200 }, "\(Set(responses.map(\.status)))")
            #expect(Set(responses.compactMap { $0.header("X-Herd-Variant") }) == ["avif", "webp", "orig"])
            let plainPath = String(path.prefix { $0 != "?" })
            #expect(try stack.originCount(plainPath) == 1, "\(path) with \(headers)")
        }
    }

    @Test("the leader's fetch fails → every waiter gets 502 promptly, and the next request fetches again")
    func sharedFailure() throws {
        // Enough threads that all 50 are inside the worker at once (the
        // default, 32 on two cores, would let the rest in as a second burst).
        let stack = try AppStack(workers: 2, herdArguments: ["--threads", "64"])
        defer { stack.stop() }
        let path = "/system/media_attachments/files/000/000/001/original/photo.jpg?delay=1&drop=1"
        let started = Date()
        let responses = Self.burst(stack, path: path, count: 50, extraHeaders: [("Authorization", "Bearer x")]).compactMap { try? $0.get() }
        let elapsed = Date().timeIntervalSince(started)
        #expect(responses.count == 50)
        #expect(responses.allSatisfy { $0.status == 502 }, "\(Set(responses.map(\.status)))")
        #expect(elapsed < 10, "waiters must not hang: \(elapsed) s")
        let afterBurst = try stack.originCount("/system/media_attachments/files/000/000/001/original/photo.jpg")
        #expect(afterBurst == 1, "one fetch for 50 requests, got \(afterBurst)")
        _ = try stack.get(path, headers: [("Authorization", "Bearer x")])
        let afterNext = try stack.originCount("/system/media_attachments/files/000/000/001/original/photo.jpg")
        #expect(afterNext == afterBurst + 1, "a failure is not remembered: \(afterBurst) → \(afterNext)")
    }

    @Test("the source cache never holds more than cache.max_bytes while 10× that passes through")
    func cacheBound() throws {
        let stack = try AppStack(workers: 1, herdArguments: ["--set", "cache.max_bytes=1MB"])
        defer { stack.stop() }
        let file = "/system/media_attachments/files/000/000/003/original/water.jpg"  // 60 KB
        for index in 0..<180 {  // ≈ 11 MB through the worker
            #expect(try stack.get(file + "?n=\(index)", headers: [("Accept", "*/*")]).status == 200)
        }
        let metrics = try stack.metrics()
        func value(_ name: String) -> Double? {
            metrics.split(separator: "\n").first { $0.hasPrefix(name + " ") }.flatMap { Double($0.split(separator: " ").last!) }
        }
        let peak = try #require(value("herd_source_cache_bytes_peak"))
        #expect(peak <= 1_048_576, "peak \(peak)")
        #expect(peak > 500_000, "the cache was used")
        #expect((value("herd_source_cache_evictions") ?? 0) > 100)
        #expect(metrics.contains("herd_source_cache_hits_total"))
        #expect(metrics.contains("herd_coalesced_waiters_total"))
    }

    /// 200 connections of media requests for `seconds`, all bypassing
    /// nginx's cache so that every one reaches a worker; returns (requests, failures).
    static func load(_ stack: AppStack, seconds: Double, during action: () throws -> Void) throws -> (Int, Int, [String]) {
        let files = [
            "/system/media_attachments/files/000/000/001/original/photo.jpg",
            "/system/media_attachments/files/000/000/003/original/water.jpg",
            "/system/accounts/avatars/000/000/001/original/avatar.jpg",
            "/system/custom_emojis/images/000/000/001/original/blobcat.png",
            "/media/2f/8a/kite.jpg",
        ]
        let deadline = Date().addingTimeInterval(seconds)
        final class Tally: @unchecked Sendable {
            let lock = NSLock()
            var requests = 0, failures = 0
            var samples: [String] = []
            func add(_ failed: String?) {
                lock.lock()
                defer { lock.unlock() }
                requests += 1
                if let failed {
                    failures += 1
                    if samples.count < 5 { samples.append(failed) }
                }
            }
        }
        let tally = Tally()
        let group = DispatchGroup()
        for thread in 0..<200 {
            group.enter()
            Thread {
                var index = thread
                while Date() < deadline {
                    index += 1
                    let path = files[index % files.count] + "?v=\(index % 7)"
                    var failed: String? = nil
                    do {
                        let response = try stack.get(path, headers: [("Accept", accepts[index % 3]), ("Authorization", "Bearer load")], timeout: 30)
                        if response.status != 200 { failed = "status \(response.status) \(response.header("X-Herd-Error") ?? "")" }
                        else if let length = response.header("Content-Length"), Int(length) != response.body.count {
                            failed = "short body"
                        }
                    } catch {
                        failed = "\(error)"
                    }
                    tally.add(failed)
                }
                group.leave()
            }.start()
        }
        Thread.sleep(forTimeInterval: 2)
        try action()
        _ = group.wait(timeout: .now() + seconds + 60)
        tally.lock.lock()
        defer { tally.lock.unlock() }
        return (tally.requests, tally.failures, tally.samples)
    }

    @Test("kill -9 of one of 4 workers under 20 s of load from 200 connections: at most 0.1% errors; the worker comes back")
    func killOneWorker() throws {
        let stack = try AppStack(workers: 4)
        defer { stack.stop() }
        let (requests, failures, samples) = try Self.load(stack, seconds: 20) {
            stack.workers[1].signal(SIGKILL)
            Thread.sleep(forTimeInterval: 1)
            try stack.restartWorker(1)  // what systemd's Restart=on-failure does
        }
        let rate = Double(failures) / Double(max(1, requests))
        print("kill -9 under load: \(requests) requests, \(failures) failed (\(String(format: "%.3f", rate * 100))%) \(samples)")
        #expect(requests > 1000)
        #expect(rate <= 0.001, "\(failures) of \(requests) failed: \(samples)")
        #expect(stack.workers[1].isRunning)
        #expect(Stack.unixSocketAccepts(stack.sockets[1]))
    }

    @Test("a rolling SIGTERM restart of every worker under load: no failed request")
    func rollingRestart() throws {
        let stack = try AppStack(workers: 4)
        defer { stack.stop() }
        let (requests, failures, samples) = try Self.load(stack, seconds: 16) {
            for index in 0..<4 {
                stack.workers[index].signal(SIGTERM)
                #expect(stack.workers[index].waitForExit(timeout: 15) == 0)
                try stack.restartWorker(index)
                Thread.sleep(forTimeInterval: 0.5)
            }
        }
        print("rolling restart under load: \(requests) requests, \(failures) failed \(samples)")
        #expect(requests > 1000)
        #expect(failures == 0, "\(samples)")
    }
}
