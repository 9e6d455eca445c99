import Foundation
import HerdTestSupport
import Testing
import Upstream

/// A private S3-compatible bucket as the origin: every request signed with
/// AWS Signature Version 4, checked by a stand-in bucket that verifies the
/// signature from the specification (demo/sigv4.py, independent of herd's
/// signer) and refuses a wrong or expired one.
@Suite("Private buckets (SigV4)", .serialized)
struct PrivateBucketTests {
    static let photo = "/system/media_attachments/files/000/000/001/original/photo.jpg"
    static let bucket = ["--bucket", "--s3-credentials", "AKIDHERDTEST:herd-test-secret/key+1"]

    @Test("signed with the right key: converted and served, the client's query never passed on; a wrong secret is refused by the bucket (502, nothing stored)")
    func signedRequests() throws {
        let stack = try Stack(.init(herdArguments: ["--set", "upstream.s3_access_key=AKIDHERDTEST",
                                                    "--set", "upstream.s3_secret_key=herd-test-secret/key+1"],
                                    originArguments: Self.bucket))
        defer { stack.stop() }
        let avif = try stack.get(Self.photo, headers: [("Accept", "image/avif,*/*")])
        #expect(avif.status == 200 && avif.header("Content-Type") == "image/avif", "\(avif.status) \(avif.text.prefix(200))")
        let original = try stack.get(Self.photo + "?v=2", headers: [("Accept", "*/*")])
        #expect(original.status == 200 && original.header("Content-Type") == "image/jpeg")
        #expect(!stack.herd.log.contains("herd-test-secret"), "the secret reached a log line")
        // The client's query never reaches a private bucket: signed with the
        // owner's rights, `?acl` would be S3's access list, not the file.
        let acl = try stack.get(Self.photo + "?acl", headers: [("Accept", "*/*")])
        #expect(acl.status == 200 && acl.header("Content-Type") == "image/jpeg", "\(acl.status) \(acl.text.prefix(200))")
        let hits = try RawHTTP.request(port: stack.originPort, target: "/__stats").text
        #expect(!hits.contains("?acl") && !hits.contains("?v=2"), "\(hits)")

        let wrong = try Stack(.init(herdArguments: ["--set", "upstream.s3_access_key=AKIDHERDTEST",
                                                    "--set", "upstream.s3_secret_key=not-the-secret"],
                                    originArguments: Self.bucket))
        defer { wrong.stop() }
        let refused = try wrong.get(Self.photo, headers: [("Accept", "image/avif,*/*")])
        #expect(refused.status == 502 || refused.status == 403, "\(refused.status)")
        #expect(refused.header("Cache-Control")?.contains("max-age=31536000") != true)
    }

    @Test("the bucket refuses an unsigned request, a signature of another key, and one made 20 minutes ago")
    func bucketChecks() throws {
        let stack = try Stack(.init(originArguments: Self.bucket))
        defer { stack.stop() }
        let url = "http://127.0.0.1:\(stack.originPort)\(Self.photo)"
        func send(_ request: UpstreamRequest) throws -> HTTPResponse {
            try RawHTTP.request(port: stack.originPort, target: Self.photo, headers: request.headers.map { ($0.name, $0.value) },
                                host: "127.0.0.1:\(stack.originPort)")
        }
        let good = SigV4(accessKey: "AKIDHERDTEST", secretKey: "herd-test-secret/key+1", region: "us-east-1")
        #expect(try send(good.signed(UpstreamRequest(url: url))).status == 200)
        #expect(try send(UpstreamRequest(url: url)).status == 403)
        let other = SigV4(accessKey: "AKIDHERDTEST", secretKey: "guess", region: "us-east-1")
        #expect(try send(other.signed(UpstreamRequest(url: url))).text.contains("SignatureDoesNotMatch"))
        let old = SigV4.timestamp(Date().addingTimeInterval(-20 * 60))
        #expect(try send(good.signed(UpstreamRequest(url: url), date: old)).text.contains("RequestTimeTooSkewed"))
    }

    @Test("check-config never prints the secret; a secret file others may read is refused")
    func secretsStayHidden() throws {
        let directory = try Paths.temporaryDirectory("s3-secret")
        let file = directory.appendingPathComponent("s3-secret")
        try Data("file-secret-value\n".utf8).write(to: file)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: file.path)
        let loose = try PackageTests.run(Paths.herdBinary, ["check-config", "--upstream", "https://bucket.example",
                                                            "--set", "upstream.s3_access_key=AK", "--set",
                                                            "upstream.s3_secret_key_file=\(file.path)"])
        #expect(loose.status == 2 && loose.output.contains("may be read by others"), "\(loose.output)")
        try FileManager.default.setAttributes([.posixPermissions: 0o600], ofItemAtPath: file.path)
        let fromFile = try PackageTests.run(Paths.herdBinary, ["check-config", "--upstream", "https://bucket.example",
                                                               "--set", "upstream.s3_access_key=AK", "--set",
                                                               "upstream.s3_secret_key_file=\(file.path)"])
        #expect(fromFile.status == 0 && !fromFile.output.contains("file-secret-value"), "\(fromFile.output)")
        let inline = try PackageTests.run(Paths.herdBinary, ["check-config", "--upstream", "https://bucket.example",
                                                             "--set", "upstream.s3_access_key=AK"],
                                          environment: ["HERD_UPSTREAM_S3_SECRET_KEY": "env-secret-value"])
        #expect(inline.status == 0 && !inline.output.contains("env-secret-value") && inline.output.contains("(set, not shown)"),
                "\(inline.output)")
    }
}
