import Crypto
import Foundation

/// A remote server's actor signing its fetches, as the stand-in app
/// (demo/fediverse.py) verifies them: draft-cavage `Signature` over
/// (request-target), host and date, or RFC 9421 `Signature-Input` +
/// `Signature` over @method and @target-uri. The stand-in cannot fetch an
/// actor's key, so the key is a secret derived from the keyId on both sides
/// (HMAC-SHA256, `hs2019`).
struct Signer {
    let keyID: String

    init(server: String) {
        keyID = "https://\(server)/actor#main-key"
    }

    private var secret: SymmetricKey {
        SymmetricKey(data: SHA256.hash(data: Data("herd-stand-in-key:\(keyID)".utf8)))
    }

    /// Headers for a signed GET of `target` (path and query) to `host`.
    func headers(get target: String, host: String = "localhost") -> [(String, String)] {
        let date = Self.httpDate()
        let text = "(request-target): get \(target)\nhost: \(host)\ndate: \(date)"
        let signature = Data(HMAC<SHA256>.authenticationCode(for: Data(text.utf8), using: secret)).base64EncodedString()
        return [("Date", date),
                ("Signature", "keyId=\"\(keyID)\",algorithm=\"hs2019\",headers=\"(request-target) host date\",signature=\"\(signature)\"")]
    }

    /// RFC 9421 headers for a GET of `http://host/target`.
    func rfc9421Headers(get target: String, host: String = "localhost") -> [(String, String)] {
        let created = Int(Date().timeIntervalSince1970)
        let params = "(\"@method\" \"@target-uri\");created=\(created);keyid=\"\(keyID)\""
        let base = "\"@method\": GET\n\"@target-uri\": http://\(host)\(target)\n\"@signature-params\": \(params)"
        let signature = Data(HMAC<SHA256>.authenticationCode(for: Data(base.utf8), using: secret)).base64EncodedString()
        return [("Signature-Input", "sig1=\(params)"), ("Signature", "sig1=:\(signature):")]
    }

    static func httpDate() -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: Date())
    }
}
