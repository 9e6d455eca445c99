import Foundation
@testable import Imaging
import Testing
@testable import Herd

@Suite("Origin host cap")
struct OriginHostLimiterTests {
    @Test("a stalled host: at most `limit` fetches, the next refused within the stall time; other hosts unaffected")
    func cap() {
        let limiter = OriginHostLimiter(limit: 2, stallAfter: 0.2)
        #expect(limiter.enter("http://slow.example/a.jpg"))
        #expect(limiter.enter("http://SLOW.example/b.jpg?x"))
        #expect(!limiter.enter("http://slow.example/c.jpg"), "nothing finished for 0.2 s: refused")
        #expect(!limiter.enter("http://slow.example/c.jpg"))
        #expect(limiter.enter("http://slow.example:8080/c.jpg"), "another port is another host")
        #expect(limiter.enter("https://fast.example/a.jpg"))
        limiter.leave("http://slow.example/a.jpg")
        #expect(limiter.enter("http://slow.example/c.jpg"))
        #expect(limiter.count("http://slow.example/") == 2)
    }

    @Test("a host that is finishing fetches: a request over the cap waits for a place instead of a refusal")
    func progress() {
        let limiter = OriginHostLimiter(limit: 1, stallAfter: 5)
        #expect(limiter.enter("http://o/a"))
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) {
            limiter.leave("http://o/a")
            done.signal()
        }
        #expect(limiter.enter("http://o/b"), "a place freed 0.1 s later")
        done.wait()
    }

    @Test("host keys", arguments: [
        ("http://a.example/x/y", "http://a.example"),
        ("https://A.Example:8443?q", "https://a.example:8443"),
        ("http://a.example#f", "http://a.example"),
    ])
    func keys(url: String, key: String) {
        #expect(OriginHostLimiter.hostKey(url) == key)
    }
}
