import Foundation
import Testing
import Herd
@testable import Media
import Settings

@Suite("Origin host cap")
struct OriginHostLimiterTests {
    @Test("a stalled host: at most `limit` fetches, the next refused within the stall time; other hosts unaffected")
    func cap() {
        let limiter = OriginHostLimiter(limit: 2, stallAfter: 0.2)
        #expect(limiter.enter("http://slow.example/a.jpg") != nil)
        #expect(limiter.enter("http://SLOW.example/b.jpg?x") != nil)
        #expect(limiter.enter("http://slow.example/c.jpg") == nil, "nothing finished for 0.2 s: refused")
        #expect(limiter.enter("http://slow.example/c.jpg") == nil)
        #expect(limiter.enter("http://slow.example:8080/c.jpg") != nil, "another port is another host")
        #expect(limiter.enter("https://fast.example/a.jpg") != nil)
        limiter.leave(host: "http://slow.example")
        #expect(limiter.enter("http://slow.example/c.jpg") != nil)
        #expect(limiter.count("http://slow.example/") == 2)
    }

    @Test("a host that is finishing fetches: a request over the cap waits for a place instead of a refusal")
    func progress() {
        let limiter = OriginHostLimiter(limit: 1, stallAfter: 5)
        #expect(limiter.enter("http://o/a") != nil)
        let done = DispatchSemaphore(value: 0)
        DispatchQueue.global().asyncAfter(deadline: .now() + 0.1) {
            limiter.leave(host: "http://o")
            done.signal()
        }
        #expect(limiter.enter("http://o/b") != nil, "a place freed 0.1 s later")
        done.wait()
    }

    @Test("a burst after a quiet spell is not a stall: the clock starts when the host gets busy")
    func idleThenBurst() {
        let limiter = OriginHostLimiter(limit: 1, stallAfter: 1)
        #expect(limiter.enter("http://o/a") != nil)
        limiter.leave(host: "http://o")
        Thread.sleep(forTimeInterval: 1.2)  // quiet for longer than stallAfter
        #expect(limiter.enter("http://o/b") != nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            Thread.sleep(forTimeInterval: 0.05)
            limiter.leave(host: "http://o")
            done.signal()
        }.start()
        #expect(limiter.enter("http://o/c") != nil, "waits for the place instead of being refused for the quiet spell")
        done.wait()
    }

    @Test("host keys", arguments: [
        ("http://a.example/x/y", "http://a.example"),
        ("https://A.Example:8443?q", "https://a.example:8443"),
        ("http://a.example#f", "http://a.example"),
        ("http://a.example", "http://a.example"),
        ("http://[::1]:8080/p", "http://[::1]:8080"),
    ])
    func keys(url: String, key: String) {
        #expect(OriginHostLimiter.hostKey(url) == key)
    }
}
