import Basics
import Remote
import Upstream
import Settings

/// Media on this machine's disk (`upstream.root`): the path as the client
/// sent it, below the root. Asked before `OriginSource`, so with a root
/// set the origin is never asked for media (signed remote URLs are still
/// fetched: `SignedRemoteSource` is asked first).
///
/// Each server's own layout: Mastodon's root is its `public/` directory
/// (the request path /system/… lies below it as it is); Akkoma's is its
/// uploads directory, which *is* /media/ (`routes.akkoma_prefix` is taken
/// off the path).
struct DiskSource: SourceLocator {
    let akkomaPrefix: String

    init?(configuration: HerdConfiguration) {
        guard !configuration.upstream.root.isEmpty else { return nil }
        akkomaPrefix = configuration.routes.akkomaPrefix
    }

    func locate(_ request: MediaRequest) -> SourceLocation? {
        guard request.route == .mastodonMedia || request.route == .akkomaMedia else { return nil }
        // The file's name, percent-decoded (Akkoma names uploads in UTF-8).
        // Control characters and `?` never name a file here: they could not
        // travel in X-Accel-Redirect (nginx would split its query there).
        var requestPath = String(request.target.path)
        if request.route == .akkomaMedia { requestPath = String(requestPath.dropFirst(akkomaPrefix.count)) }
        let path = Self.fileName(requestPath) ?? "/\u{FFFD}not-a-file"
        return SourceLocation(source: .disk(path: path), key: "disk " + path, shareable: true)
    }

    static func fileName(_ requestPath: String) -> String? {
        guard let decoded = PercentEncoding.decode(requestPath),
              !decoded.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "?" || $0 == "#" || $0 == "\\" })
        else { return nil }
        return decoded
    }
}
