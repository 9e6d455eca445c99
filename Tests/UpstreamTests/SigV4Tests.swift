import Testing
@testable import Upstream

/// Signature Version 4 against AWS's published examples: the signature
/// test suite's get-vanilla family (service "service") and the S3
/// documentation's worked examples ("Signature Calculations for the
/// Authorization Header: Transferring Payload in a Single Chunk").
@Suite("AWS Signature Version 4")
struct SigV4Tests {
    static let suite = SigV4(accessKey: "AKIDEXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
                             region: "us-east-1", service: "service")
    static let s3 = SigV4(accessKey: "AKIAIOSFODNN7EXAMPLE", secretKey: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
                          region: "us-east-1", service: "s3")

    @Test("the test suite's get-vanilla, get-vanilla-query, get-vanilla-empty-query-key, get-vanilla-query-order-key-case",
          arguments: [
            ("/", "", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
            ("/", "Param2=value2&Param1=value1", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
            ("/", "Param1=value1", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
            ("/", "Param1=value2&Param1=Value1", "eedbc4e291e521cf13422ffca22be7d2eb8146eecf653089df300a15b2382bd1"),
          ] as [(String, String, String)])
    func suiteVectors(path: String, query: String, expected: String) {
        let (signedHeaders, signature) = Self.suite.sign(
            method: "GET", path: path, query: query,
            headers: [("Host", "example.amazonaws.com"), ("X-Amz-Date", "20150830T123600Z")],
            payloadHash: SigV4.emptyPayloadHash, date: "20150830T123600Z")
        #expect(signedHeaders == "host;x-amz-date")
        #expect(signature == expected, "\(path)?\(query)")
    }

    @Test("S3's examples: GET Object with a range, GET Bucket Lifecycle, GET Bucket (list objects)",
          arguments: [
            ("/test.txt", "", [("Range", "bytes=0-9")], "host;range;x-amz-content-sha256;x-amz-date",
             "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"),
            ("/", "lifecycle", [], "host;x-amz-content-sha256;x-amz-date",
             "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543"),
            ("/", "max-keys=2&prefix=J", [], "host;x-amz-content-sha256;x-amz-date",
             "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7"),
          ] as [(String, String, [(name: String, value: String)], String, String)])
    func s3Vectors(path: String, query: String, extra: [(name: String, value: String)], signedHeaders: String, expected: String) {
        let headers: [(name: String, value: String)] = [("Host", "examplebucket.s3.amazonaws.com"),
                                                        ("x-amz-date", "20130524T000000Z"),
                                                        ("x-amz-content-sha256", SigV4.emptyPayloadHash)] + extra
        let result = Self.s3.sign(method: "GET", path: path, query: query, headers: headers,
                                  payloadHash: SigV4.emptyPayloadHash, date: "20130524T000000Z")
        #expect(result.signedHeaders == signedHeaders)
        #expect(result.signature == expected, "\(path)?\(query)")
    }

    @Test("a request signed for the bucket: Authorization, x-amz-date and the payload hash; the client's headers kept, old signatures replaced")
    func signsRequests() {
        let request = UpstreamRequest(url: "https://examplebucket.s3.amazonaws.com:443/media_attachments/x%20y.jpg?a=1",
                                      headers: [("If-None-Match", "\"e\""), ("Authorization", "forged")])
        let signed = Self.s3.signed(request, date: "20130524T000000Z")
        let names = signed.headers.map { $0.name.lowercased() }
        #expect(names.filter { $0 == "authorization" }.count == 1)
        #expect(names.contains("x-amz-date") && names.contains("x-amz-content-sha256") && names.contains("if-none-match"))
        let authorization = signed.headers.first { $0.name == "Authorization" }!.value
        #expect(authorization.hasPrefix("AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
                                        + "SignedHeaders=host;x-amz-content-sha256;x-amz-date, Signature="))
        // Signed as libcurl sends Host: no :443 for https.
        let expected = Self.s3.sign(method: "GET", path: "/media_attachments/x%20y.jpg", query: "a=1",
                                    headers: [("Host", "examplebucket.s3.amazonaws.com"),
                                              ("x-amz-content-sha256", SigV4.emptyPayloadHash), ("x-amz-date", "20130524T000000Z")],
                                    payloadHash: SigV4.emptyPayloadHash, date: "20130524T000000Z").signature
        #expect(authorization.hasSuffix("Signature=" + expected))
        #expect(SigV4.canonicalPath("/media_attachments/x%20y.jpg", service: "s3") == "/media_attachments/x%20y.jpg")
        #expect(SigV4.canonicalPath("/a b/ü", service: "s3") == "/a%20b/%C3%BC")
    }
}
