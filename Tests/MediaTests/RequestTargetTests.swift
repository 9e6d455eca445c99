import Testing
import Herd
@testable import Media
import Settings

@Suite("Request target validation")
struct RequestTargetTests {
    @Test("ordinary media URIs pass and split into path and query", arguments: [
        ("/system/media_attachments/files/109/000/001/original/a.jpg", "/system/media_attachments/files/109/000/001/original/a.jpg", nil as String?),
        ("/media/ab/cd/photo.png?name=a%20b", "/media/ab/cd/photo.png", "name=a%20b"),
        ("/proxy/sig/aHR0cHM6Ly9leGFtcGxlLmNvbS9hLnBuZw/a.png", "/proxy/sig/aHR0cHM6Ly9leGFtcGxlLmNvbS9hLnBuZw/a.png", nil),
        ("/media/file.name.with.dots.jpg", "/media/file.name.with.dots.jpg", nil),
        ("/media/...jpg", "/media/...jpg", nil),
        ("/proxy/x?url=https%3A%2F%2Fexample.com%2Fa", "/proxy/x", "url=https%3A%2F%2Fexample.com%2Fa"),
    ])
    func accepted(raw: String, path: String, query: String?) throws {
        let target = try RequestTarget(validating: raw, maxLength: 2048)
        #expect(target.path == path)
        #expect(target.query.map(String.init) == query)
    }

    @Test("hostile URIs are refused with the right status", arguments: [
        ("/media/../etc/passwd", 400, "dot_segment"),
        ("/media/./x", 400, "dot_segment"),
        ("/media/%2e%2e/x", 400, "dot_segment"),
        ("/media/%2E%2e/x", 400, "dot_segment"),
        ("/media/.%2E/x", 400, "dot_segment"),
        ("/media/x/..", 400, "dot_segment"),
        ("/media/a%2fb", 400, "encoded_separator"),
        ("/media/a%5Cb", 400, "encoded_separator"),
        ("/media/a\\b", 400, "bad_character"),
        ("/media/a%00", 400, "encoded_control_byte"),
        ("/media/a%0d%0a", 400, "encoded_control_byte"),
        ("/media/a?x=%0A", 400, "encoded_control_byte"),
        ("/media/a\r\nX: y", 400, "control_byte"),
        ("/media/a\u{0}", 400, "control_byte"),
        ("/media/a b", 400, "control_byte"),
        ("/media/a%", 400, "bad_percent_escape"),
        ("/media/a%4", 400, "bad_percent_escape"),
        ("/media/a%g1", 400, "bad_percent_escape"),
        ("/media//x", 400, "empty_segment"),
        ("media/x", 400, "not_origin_form"),
        ("http://evil.example/media/x", 400, "not_origin_form"),
        ("", 400, "not_origin_form"),
        ("/media/x#frag", 400, "bad_character"),
    ])
    func refused(raw: String, status: Int, reason: String) {
        #expect(throws: RequestTarget.Rejection(status: status, reason: reason)) {
            try RequestTarget(validating: raw, maxLength: 2048)
        }
    }

    @Test("the length cap is a 414")
    func tooLong() {
        #expect(throws: RequestTarget.Rejection(status: 414, reason: "uri_too_long")) {
            try RequestTarget(validating: "/media/" + String(repeating: "x", count: 100), maxLength: 64)
        }
    }

    @Test("non-ASCII bytes are percent-encoded for the origin, the rest kept as sent")
    func forwardable() throws {
        let target = try RequestTarget(validating: "/media/caf\u{e9}|x.jpg?a=%20", maxLength: 2048)
        #expect(target.forwardable == "/media/caf%C3%A9%7Cx.jpg?a=%20")
    }
}
