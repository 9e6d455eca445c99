import Remote
import Testing

@Suite("Akkoma signed proxy URLs")
struct SignedProxyURLTests {
    static let secret = Array("test-secret-key-base".utf8)
    static let vector = "/proxy/ewBfA86F2Tjm63sNjFbekqTWgzw/aHR0cHM6Ly9yZW1vdGUuZXhhbXBsZS9tZWRpYS9jYXQlMjBwaWMucG5nP3g9MQ/cat%20pic.png"

    @Test("the verified vector: signed as Akkoma signs, and verified")
    func vectorRoundTrip() throws {
        let url = "https://remote.example/media/cat%20pic.png?x=1"
        #expect(SignedProxyURL.sign(url, secret: Self.secret, filename: "cat%20pic.png") == Self.vector)
        let verified = try SignedProxyURL.verify(path: Substring(Self.vector), secret: Self.secret)
        #expect(verified == SignedProxyURL(kind: .original, remoteURL: url, filename: "cat%20pic.png"))
        let preview = try SignedProxyURL.verify(path: Substring(Self.vector.replacingPrefix("/proxy/", "/proxy/preview/")),
                                                secret: Self.secret)
        #expect(preview.kind == .preview)
    }

    @Test("a bad signature is 403, a malformed one 400, a wrong filename 302 to the right one")
    func problems() {
        func problem(_ path: String, secret: [UInt8] = Self.secret) -> SignedProxyURL.Problem? {
            do { _ = try SignedProxyURL.verify(path: Substring(path), secret: secret); return nil } catch { return error }
        }
        #expect(problem(Self.vector.replacingPrefix("/proxy/ewB", "/proxy/ewC"))?.status == 403)
        #expect(problem(Self.vector, secret: Array("another-secret".utf8)) == .badSignature)
        #expect(problem("/proxy/!!!/aHR0cHM6Ly9h")?.status == 400)
        #expect(problem("/proxy/ewBfA86F2Tjm63sNjFbekqTWgzw")?.status == 400)
        #expect(problem("/proxy/ewBfA86F2Tjm63sNjFbekqTWgzw=/aHR0cHM6Ly9h")?.status == 400)
        let wrong = problem(Self.vector.replacingSuffix("cat%20pic.png", "dog.png"))
        #expect(wrong == .wrongFilename(redirectPath: Self.vector))
        // Decoded and encoded spellings of the name are the same name.
        #expect(problem(Self.vector.replacingSuffix("cat%20pic.png", "cat pic.png")) == nil)
    }

    @Test("only http and https, no credentials, no localhost; //host means https")
    func urls() {
        for bad in ["ftp://example.com/a", "file:///etc/passwd", "gopher://example.com/", "https://user:pw@example.com/a",
                    "http://localhost/a", "http://LOCALHOST:80/a", "http://a.localhost/a", "http:///a", "https://exa mple.com/"] {
            let path = SignedProxyURL.sign(bad, secret: Self.secret)
            #expect(throws: SignedProxyURL.Problem.self, "\(bad)") { try SignedProxyURL.verify(path: Substring(path), secret: Self.secret) }
        }
        let schemeless = SignedProxyURL.sign("//cdn.example/a.png", secret: Self.secret)
        #expect((try? SignedProxyURL.verify(path: Substring(schemeless), secret: Self.secret))?.remoteURL == "https://cdn.example/a.png")
    }

    @Test("base64url round trip, and no second spelling of the same bytes")
    func base64() {
        for length in 0..<40 {
            let bytes = (0..<length).map { UInt8(truncatingIfNeeded: $0 * 37 + 11) }
            #expect(Base64URL.decode(Base64URL.encode(bytes)) == bytes)
        }
        #expect(Base64URL.decode("QQ") == [0x41])
        #expect(Base64URL.decode("QR") == nil)   // trailing bits set
        #expect(Base64URL.decode("QQ==") == nil)
        #expect(Base64URL.decode("Q") == nil)
    }
}

private extension String {
    func replacingPrefix(_ prefix: String, _ replacement: String) -> String {
        hasPrefix(prefix) ? replacement + dropFirst(prefix.count) : self
    }
    func replacingSuffix(_ suffix: String, _ replacement: String) -> String {
        hasSuffix(suffix) ? dropLast(suffix.count) + replacement : self
    }
}
