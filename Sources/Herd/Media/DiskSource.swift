import Remote
import Upstream

/// Media on this machine's disk (`upstream.root`): the path as the client
/// sent it, below the root. Asked before `OriginSource`, so with a root
/// set the origin is never asked for media (signed remote URLs are still
/// fetched: `SignedRemoteSource` is asked first).
struct DiskSource: SourceLocator {
    init?(configuration: HerdConfiguration) {
        guard !configuration.upstream.root.isEmpty else { return nil }
    }

    func locate(_ request: MediaRequest) -> SourceLocation? {
        guard request.route == .mastodonMedia || request.route == .akkomaMedia else { return nil }
        // The file's name, percent-decoded (Akkoma names uploads in UTF-8).
        // Control characters and `?` never name a file here: they could not
        // travel in X-Accel-Redirect (nginx would split its query there).
        let path = Self.fileName(String(request.target.path)) ?? "/\u{FFFD}not-a-file"
        return SourceLocation(request: UpstreamRequest(url: path), key: "disk " + path, shareable: true, fetcher: .disk)
    }

    static func fileName(_ requestPath: String) -> String? {
        guard let decoded = PercentEncoding.decode(requestPath),
              !decoded.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F || $0 == "?" || $0 == "#" || $0 == "\\" })
        else { return nil }
        return decoded
    }
}
