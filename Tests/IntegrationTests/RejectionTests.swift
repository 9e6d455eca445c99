import Foundation
import Testing

/// Requests herd refuses before contacting the origin.
@Suite("Refused before any fetch")
struct RejectionTests {
    @Test("a path outside the media routes is 404 and never reaches the origin", arguments: [
        "/", "/about", "/api/v1/instance", "/system/", "/system/secrets.yml", "/system/../config/database.yml",
        "/etc/passwd", "/users/alice", "/systemd/x.jpg", "/media", "/proxy/",
    ])
    func nonMediaIs404(target: String) throws {
        let stack = try Stack()
        defer { stack.stop() }
        let response = try stack.get(target)
        // nginx itself answers 400 for a `..` that climbs above the root, and
        // 301 for `/media` (a fastcgi prefix location ending in a slash);
        // either way the origin must see nothing.
        #expect([404, 400, 301].contains(response.status), "\(target) → \(response.status)")
        #expect(try stack.originTotal().requests == 0)
    }

    @Test("traversal and header-injection forms are 400 with zero origin requests", arguments: [
        "/system/media_attachments/../../../etc/passwd",
        "/system/media_attachments/files/../secret.jpg",
        "/system/media_attachments/files/%2e%2e/secret.jpg",
        "/system/media_attachments/files/%2E%2E/secret.jpg",
        "/system/media_attachments/files/.%2e/secret.jpg",
        "/system/media_attachments/files/%2e./secret.jpg",
        "/system/media_attachments/files/%2e/secret.jpg",
        "/system/media_attachments/files%2f..%2fsecret.jpg",
        "/system/media_attachments/files/%2F/x.jpg",
        "/system/media_attachments/files/%5c..%5cx.jpg",
        "/system/media_attachments/files/%5C/x.jpg",
        "/system/media_attachments/files/x.jpg%00.png",
        "/system/media_attachments/files/x.jpg%0d%0aSet-Cookie:%20a=b",
        "/system/media_attachments/files/x.jpg%0A",
        "/system/media_attachments/files/x.jpg?q=%00",
        "/media/x.jpg%zz",
        "/media//etc/passwd",
    ])
    func traversalIs400(target: String) throws {
        let stack = try Stack()
        defer { stack.stop() }
        let response = try stack.get(target)
        #expect(response.status == 400, "\(target) → \(response.status)")
        #expect(try stack.originTotal().requests == 0)
    }

    @Test("an over-long URI is refused (414) with zero origin requests")
    func overLongURI() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let response = try stack.get("/media/" + String(repeating: "a", count: 3000) + ".jpg")
        #expect(response.status == 414)
        #expect(try stack.originTotal().requests == 0)
    }

    @Test("methods other than GET and HEAD are 405")
    func post() throws {
        let stack = try Stack()
        defer { stack.stop() }
        let response = try stack.get(PassthroughTests.photo, method: "DELETE")
        #expect(response.status == 405)
        #expect(response.header("Allow") == "GET, HEAD")
        #expect(try stack.originTotal().requests == 0)
    }
}
