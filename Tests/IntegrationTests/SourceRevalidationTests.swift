import Foundation
import Testing
#if canImport(Glibc)
import Glibc
import HerdTestSupport
#endif

@Suite("Source cache revalidation", .serialized)
struct SourceRevalidationTests {
    @Test("a stale source is revalidated with the origin's ETag; a 304 keeps the cached bytes")
    func revalidation() throws {
        let stack = try AppStack(workers: 1, herdArguments: ["--set", "cache.ttl=1"])
        defer { stack.stop() }
        let path = "/system/media_attachments/files/000/000/003/original/water.jpg"
        let bypass = [("Authorization", "Bearer x"), ("Accept", "*/*")]
        let first = try stack.get(path, headers: bypass)
        let again = try stack.get(path, headers: bypass)
        #expect(try stack.originCount(path) == 1, "fresh: answered from the source cache")
        Thread.sleep(forTimeInterval: 1.2)
        let revalidated = try stack.get(path, headers: bypass)
        #expect(try stack.originCount(path) == 2)
        let seen = try RawHTTP.request(port: stack.originPort, target: "/__last?path=\(path.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!)")
        let headers = (try JSONSerialization.jsonObject(with: Data(seen.body)) as? [String: String]) ?? [:]
        #expect(headers["If-None-Match"] == first.header("ETag"), "the stale copy's ETag went to the origin: \(headers)")
        #expect(revalidated.status == 200)
        #expect(revalidated.body == first.body)
        #expect(again.body == first.body)
    }
}
