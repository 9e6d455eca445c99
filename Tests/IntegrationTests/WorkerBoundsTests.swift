import Foundation
import HerdTestSupport
import Testing

/// What one worker holds is bounded: memory by the conversions' estimated
/// peaks, threads by a cap on requests waiting on one origin host.
@Suite("Worker bounds: memory and held threads", .serialized)
struct WorkerBoundsTests {
    /// A 7900×5000 PNG (39.5 MP, inside image.max_pixels) of one colour:
    /// a ~120 KB file that decodes to 118 MB. `shade` makes each file distinct.
    static func bomb(shade: UInt8) throws -> [UInt8] {
        let script = """
        import struct, sys, zlib
        w, h, shade = 7900, 5000, int(sys.argv[1])
        def chunk(kind, data):
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xffffffff)
        row = b"\\0" + bytes([shade]) * (w * 3)
        idat = zlib.compress(row * h, 9)
        sys.stdout.buffer.write(b"\\x89PNG\\r\\n\\x1a\\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
                                + chunk(b"IDAT", idat) + chunk(b"IEND", b""))
        """
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-c", script, String(shade)]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return [UInt8](data)
    }

    @Test("eight concurrent 40 MP sources with four conversion slots: admitted by memory, peak RSS under the budget plus base")
    func eightBombs() throws {
        var files: [String: [UInt8]] = [:]
        for index in 0..<8 { files["/media/bomb/\(index).png"] = try Self.bomb(shade: UInt8(20 + index)) }
        #expect(files.values.allSatisfy { $0.count < 1 << 20 }, "small files that decode big")
        let stack = try Stack(.init(
            herdArguments: ["--threads", "16", "--set", "image.workers=4", "--set", "image.timeout=60"],
            files: files))
        defer { stack.stop() }
        let before = try #require(stack.herd.memoryKiB("VmRSS"))
        let results = ResultsBox()
        let group = DispatchGroup()
        for index in 0..<8 {
            group.enter()
            Thread {
                results.append(Result { try stack.get("/media/bomb/\(index).png", headers: [("Accept", "image/webp,*/*")], timeout: 300) })
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 400) == .success)
        let peak = try #require(stack.herd.memoryKiB("VmHWM"))
        let responses = results.all.compactMap { try? $0.get() }
        #expect(responses.count == 8)
        // Each either converted, or refused at once because the queue waited
        // too long for memory (503, never stored); nothing else.
        #expect(responses.allSatisfy { ($0.status == 200 && $0.header("X-Herd-Variant") == "webp") || $0.status == 503 },
                "statuses: \(responses.map(\.status))")
        #expect(responses.contains { $0.status == 200 })
        print("eight 40 MP PNG → WebP, image.workers=4, memory_budget 512 MiB: RSS \(before / 1024) MiB before, peak \(peak / 1024) MiB; statuses \(responses.map(\.status).sorted())")
        #expect(peak < (512 + 160) * 1024, "peak RSS \(peak / 1024) MiB over the budget plus a worker's base")
    }

    @Test("100 requests stalled on the origin: once it is seen stalled, a conversion from a cached source and a 503 for the stalled host come at once")
    func stalledOrigin() throws {
        let photo = TestImages.jpeg(TestImages.photo(width: 640, height: 400), quality: 85)
        let stack = try Stack(.init(herdArguments: ["--threads", "16", "--set", "upstream.timeout=30"],
                                    files: ["/media/warm/photo.jpg": photo]))
        defer { stack.stop() }
        // The source is fetched once (orig) and stays in the worker's source cache.
        #expect(try stack.get("/media/warm/photo.jpg").status == 200)

        let group = DispatchGroup()
        let stalled = ResultsBox()
        for index in 0..<100 {
            group.enter()
            Thread {
                stalled.append(Result { try stack.get("/media/slow/\(index).jpg?delay=20", timeout: 60) })
                group.leave()
            }.start()
        }
        // Let them reach the worker, fill the host's places, and the rest be
        // refused once the host has made no progress for 5 s.
        Thread.sleep(forTimeInterval: 7)

        var started = Date()
        let converted = try stack.get("/media/warm/photo.jpg", headers: [("Accept", "image/webp,*/*")], timeout: 30)
        let conversionSeconds = Date().timeIntervalSince(started)
        #expect(converted.status == 200 && converted.header("X-Herd-Variant") == "webp")

        started = Date()
        let uncached = try stack.get("/media/other/new.jpg", timeout: 30)
        let uncachedSeconds = Date().timeIntervalSince(started)
        // Same host, and the host is full: refused at once, never stored.
        #expect(uncached.status == 503 && uncached.header("Cache-Control") == "no-store" && uncached.header("Retry-After") == "1",
                "status \(uncached.status)")
        let busy = stalled.all.count { (try? $0.get())?.status == 503 }
        print("100 stalled requests (threads 16, cap 12 on the host): \(busy) answered 503 at once; then a conversion from a cached source took \(Int(conversionSeconds * 1000)) ms, an uncached source on the stalled host \(Int(uncachedSeconds * 1000)) ms (503)")
        // Generous bounds (a shared 2-core machine): the point is seconds, not 20 s.
        #expect(conversionSeconds < 5)
        #expect(uncachedSeconds < 5)
        #expect(busy >= 80, "only the cap's worth may wait on the host")
        _ = group.wait(timeout: .now() + 60)
    }

    @Test("a wedged worker (SIGSTOP) costs its clients one read timeout (60 s), then the next worker answers")
    func wedgedWorker() throws {
        let stack = try AppStack(.mastodon, workers: 2)
        defer {
            stack.workers[0].signal(SIGCONT)
            stack.stop()
        }
        stack.workers[0].signal(SIGSTOP)
        // Eight sources: nginx hashes some of them to the stopped worker.
        let results = ResultsBox()
        let times = TimesBox()
        let group = DispatchGroup()
        for index in 1...8 {
            group.enter()
            Thread {
                let started = Date()
                results.append(Result {
                    try stack.get("/system/media_attachments/files/000/000/00\(index)/original/wedge.jpg", timeout: 90)
                })
                times.append(Date().timeIntervalSince(started))
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 120) == .success)
        let statuses = results.all.compactMap { try? $0.get().status }
        let slowest = times.all.max() ?? 0
        print("wedged worker: statuses \(statuses.sorted()), slowest answer \(Int(slowest)) s, fastest \(Int(times.all.min() ?? 0)) s")
        // Every client got the origin's answer (404: these files do not
        // exist), none a 502/504, and none waited much beyond one read timeout.
        #expect(statuses.count == 8 && statuses.allSatisfy { $0 == 404 }, "\(statuses)")
        #expect(slowest < 75, "slowest \(slowest) s")
        #expect(slowest > 55, "some sources hash to the stopped worker and wait its read timeout")
    }
}

final class TimesBox: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [Double] = []
    func append(_ value: Double) { lock.lock(); values.append(value); lock.unlock() }
    var all: [Double] { lock.lock(); defer { lock.unlock() }; return values }
}
