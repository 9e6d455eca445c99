import Basics
import Crypto
import Foundation

/// AWS Signature Version 4, as S3 and its clones (Wasabi, Backblaze B2,
/// Cloudflare R2, MinIO, Ceph RGW, …) check it on every request to a
/// private bucket: the request's method, path, query and chosen headers are
/// put in canonical form, hashed, and signed with a key derived from the
/// secret, the day, the region and the service. From the specification
/// ("Create a signed AWS API request", Signature Version 4), tested against
/// AWS's published examples.
public struct SigV4: Sendable {
    public let accessKey: String
    private let secretKey: String
    public let region: String
    public let service: String

    public init(accessKey: String, secretKey: String, region: String, service: String = "s3") {
        self.accessKey = accessKey
        self.secretKey = secretKey
        self.region = region
        self.service = service
    }

    /// SHA-256 of an empty body, in hex: the payload hash of a GET or HEAD.
    public static let emptyPayloadHash = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

    /// The Authorization header for a request. `headers` are the headers to
    /// sign (Host among them), by name and value; `date` is `YYYYMMDD'T'HHMMSS'Z'`.
    public func authorization(method: String, path: String, query: String, headers: [(name: String, value: String)],
                              payloadHash: String, date: String) -> String {
        let (signedHeaders, signature) = sign(method: method, path: path, query: query, headers: headers,
                                              payloadHash: payloadHash, date: date)
        return "AWS4-HMAC-SHA256 Credential=\(accessKey)/\(scope(date)), SignedHeaders=\(signedHeaders), Signature=\(signature)"
    }

    /// The signed header list and the hex signature.
    public func sign(method: String, path: String, query: String, headers: [(name: String, value: String)],
                     payloadHash: String, date: String) -> (signedHeaders: String, signature: String) {
        var canonical: [(String, String)] = []
        for (name, value) in headers {
            let lower = name.lowercased()
            // Values: spaces trimmed and runs of spaces made one (the specification's Trimall).
            let trimmed = value.split(separator: " ", omittingEmptySubsequences: true).joined(separator: " ")
                .trimmingCharacters(in: .whitespaces)
            if let index = canonical.firstIndex(where: { $0.0 == lower }) {
                canonical[index].1 += "," + trimmed
            } else {
                canonical.append((lower, trimmed))
            }
        }
        canonical.sort { $0.0 < $1.0 }
        let signedHeaders = canonical.map(\.0).joined(separator: ";")
        let request = [
            method.uppercased(),
            Self.canonicalPath(path, service: service),
            Self.canonicalQuery(query),
            canonical.map { "\($0.0):\($0.1)\n" }.joined(),
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")
        let stringToSign = ["AWS4-HMAC-SHA256", date, scope(date), Self.hex(SHA256.hash(data: Data(request.utf8)))].joined(separator: "\n")
        var key = SymmetricKey(data: Data(("AWS4" + secretKey).utf8))
        for part in [String(date.prefix(8)), region, service, "aws4_request"] {
            key = SymmetricKey(data: Data(HMAC<SHA256>.authenticationCode(for: Data(part.utf8), using: key)))
        }
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Data(stringToSign.utf8), using: key))
        return (signedHeaders, signature)
    }

    private func scope(_ date: String) -> String { "\(date.prefix(8))/\(region)/\(service)/aws4_request" }

    /// The path, each segment percent-encoded the specification's way
    /// (unreserved characters as they are, every other byte `%XX`). S3
    /// encodes it once, as sent; other services normalize and encode twice.
    static func canonicalPath(_ path: String, service: String) -> String {
        let raw = path.isEmpty ? "/" : path
        let segments = raw.split(separator: "/", omittingEmptySubsequences: false).map { segment -> String in
            let decoded = PercentEncoding.decode(String(segment)) ?? String(segment)
            let once = PercentEncoding.encode(decoded)
            return service == "s3" ? once : PercentEncoding.encode(once)
        }
        return segments.joined(separator: "/")
    }

    /// The query's parameters sorted by name (then value), each name and
    /// value percent-encoded the specification's way, joined by `&`.
    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        let pairs = query.split(separator: "&", omittingEmptySubsequences: true).map { item -> (String, String) in
            let parts = item.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let name = PercentEncoding.decode(String(parts[0])) ?? String(parts[0])
            let value = parts.count > 1 ? (PercentEncoding.decode(String(parts[1])) ?? String(parts[1])) : ""
            return (PercentEncoding.encode(name), PercentEncoding.encode(value))
        }
        return pairs.sorted { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }.map { "\($0.0)=\($0.1)" }.joined(separator: "&")
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        digest.map { String(format: "%02x", $0) }.joined()
    }

    /// `YYYYMMDD'T'HHMMSS'Z'` for a moment.
    public static func timestamp(_ date: Date = Date()) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "UTC")
        formatter.dateFormat = "yyyyMMdd'T'HHmmss'Z'"
        return formatter.string(from: date)
    }
}

/// The origin's fetches signed for a private bucket: every request gets
/// `x-amz-date`, `x-amz-content-sha256` (an empty payload's) and an
/// Authorization signing them with the Host; the client's conditional and
/// range headers go unsigned (S3 accepts that).
public final class SignedFetcher: Fetching {
    private let client: any Fetching
    private let signer: SigV4

    public init(client: any Fetching, signer: SigV4) {
        self.client = client
        self.signer = signer
    }

    public func fetch(_ request: UpstreamRequest, into sink: UpstreamResponseSink) -> UpstreamOutcome {
        client.fetch(signer.signed(request), into: sink)
    }
}

extension SigV4 {
    /// `request` with the headers that sign it (a bodiless request: a GET).
    public func signed(_ request: UpstreamRequest, date: String = SigV4.timestamp()) -> UpstreamRequest {
        guard let components = URLComponents(string: request.url), let host = components.host else { return request }
        // As libcurl sends Host: the port only when it is not the scheme's own.
        let defaultPort = components.scheme == "https" ? 443 : 80
        let authority = components.port.flatMap { $0 == defaultPort ? nil : "\(host):\($0)" } ?? host
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        let signedHeaders: [(name: String, value: String)] = [
            ("Host", authority), ("x-amz-content-sha256", Self.emptyPayloadHash), ("x-amz-date", date),
        ]
        var signed = request
        signed.headers.removeAll { ["authorization", "x-amz-date", "x-amz-content-sha256"].contains($0.name.lowercased()) }
        signed.headers += [("x-amz-date", date), ("x-amz-content-sha256", Self.emptyPayloadHash),
                           ("Authorization", authorization(method: request.method, path: path, query: components.percentEncodedQuery ?? "",
                                                           headers: signedHeaders, payloadHash: Self.emptyPayloadHash, date: date))]
        return signed
    }
}
