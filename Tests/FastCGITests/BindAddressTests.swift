import FastCGI
import Testing

@Suite("Bind addresses")
struct BindAddressTests {
    @Test("spellings that parse", arguments: [
        ("/run/herd/herd-0.sock", BindAddress.unix(path: "/run/herd/herd-0.sock")),
        ("unix:/run/herd/herd-0.sock", .unix(path: "/run/herd/herd-0.sock")),
        ("127.0.0.1:9000", .tcp(host: "127.0.0.1", port: 9000)),
        ("localhost:9000", .tcp(host: "localhost", port: 9000)),
        ("[::1]:9000", .tcp(host: "::1", port: 9000)),
    ])
    func parses(text: String, expected: BindAddress) throws {
        #expect(try BindAddress(parsing: text) == expected)
    }

    @Test("spellings that do not", arguments: [
        "", "herd.sock", "unix:herd.sock", "127.0.0.1", "127.0.0.1:0", "127.0.0.1:70000", ":9000", "[::1]9000",
        "/run/herd/", "/" + String(repeating: "a", count: 120), "ho\u{1}st:9000", "host\u{7f}:9000",
    ])
    func refuses(text: String) {
        #expect(throws: BindAddress.ParseError.self) { try BindAddress(parsing: text) }
    }
}
