import Foundation
import HerdTestSupport
import Testing

@Suite("Conversion under load", .serialized)
struct ConversionLoadTests {
    @Test("100 concurrent conversions of 2560×1600 JPEGs: all answered, peak RSS under 512 MB")
    func hundredConcurrent() throws {
        let photo = TestImages.jpeg(TestImages.photo(width: 2560, height: 1600), quality: 85)
        let stack = try Stack(.init(
            // Single flight off: one file, but 100 real conversions (on, the
            // concurrent requests would share one conversion).
            herdArguments: ["--threads", "110", "--set", "image.queue=128", "--set", "image.timeout=120",
                            "--set", "cache.single_flight=false"],
            files: ["/media/load/photo.jpg": photo]))
        defer { stack.stop() }
        let before = try #require(stack.herd.memoryKiB("VmRSS"))
        let results = ResultsBox()
        let group = DispatchGroup()
        for index in 0..<100 {
            group.enter()
            Thread {
                let result = Result {
                    try stack.get("/media/load/photo.jpg?n=\(index)", headers: [("Accept", "image/webp,*/*")], timeout: 180)
                }
                results.append(result)
                group.leave()
            }.start()
        }
        #expect(group.wait(timeout: .now() + 240) == .success)
        let peak = try #require(stack.herd.memoryKiB("VmHWM"))
        let responses = results.all.compactMap { try? $0.get() }
        #expect(responses.count == 100)
        #expect(responses.allSatisfy { $0.status == 200 && $0.header("X-Herd-Variant") == "webp" },
                "statuses: \(Set(responses.map(\.status)))")
        print("100 concurrent 2560×1600 conversions: herd RSS \(before / 1024) MiB before, peak \(peak / 1024) MiB")
        #expect(peak < 512 * 1024, "peak RSS \(peak / 1024) MiB")
    }
}

final class ResultsBox: @unchecked Sendable {
    private let lock = NSLock()
    private var results: [Result<HTTPResponse, Error>] = []
    func append(_ result: Result<HTTPResponse, Error>) { lock.lock(); results.append(result); lock.unlock() }
    var all: [Result<HTTPResponse, Error>] { lock.lock(); defer { lock.unlock() }; return results }
}
