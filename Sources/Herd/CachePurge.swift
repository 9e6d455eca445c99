import Crypto
import FastCGI
import Foundation
import Negotiation

/// Exact purges of nginx's media cache: the cache file names nginx gives
/// each variant of a URL, computed from the key the shipped configuration
/// uses (server/media-cache.conf):
///
///     fastcgi_cache_key "$herd_cache_scheme$host$herd_cache_uri|$herd_image_variant";
///
/// ($herd_cache_scheme is $scheme, or an edge's on a media node; both
/// schemes are purged.) An edge's proxy cache (sites/edge.conf) uses the
/// same key, and proxy and FastCGI cache files name it the same way.
///
/// A file's name is the MD5 of its key in hex; with `levels=1:2` it lives
/// in `<last hex digit>/<the two before it>/`. Each file found is checked
/// to hold that very key (nginx writes `KEY: …` into the file's header)
/// before it is removed: nothing else in the cache is touched, and nothing
/// is searched (Akkoma's shipped script greps every file).
public struct CachePurge: Sendable {
    /// The cache directory (`fastcgi_cache_path`'s path).
    let directory: String
    /// `levels=` of `fastcgi_cache_path`, e.g. [1, 2].
    let levels: [Int]

    public init(directory: String, levels: [Int]) {
        self.directory = directory
        self.levels = levels
    }

    public struct Entry: Equatable, Sendable {
        public let key: String
        public let path: String
    }

    /// `levels=1:2` → [1, 2]; nginx allows one to three levels of 1 or 2.
    public static func parseLevels(_ text: String) -> [Int]? {
        let parts = text.split(separator: ":", omittingEmptySubsequences: false).map { Int($0) }
        guard (1...3).contains(parts.count), parts.allSatisfy({ $0 == 1 || $0 == 2 }) else { return nil }
        return parts.compactMap { $0 }
    }

    /// A URL as nginx sees it: scheme, host ($host: lowercased, no port),
    /// and the request URIs its cached forms are keyed on — the URL's own
    /// path and query, unparsed, and for Akkoma's /proxy/ the preview of
    /// the same file beside it (the same signature names both).
    struct Target: Equatable {
        struct Request: Equatable {
            var path: String
            /// Without its `?`; nil when the URL has none.
            var query: String?
            var uri: String { path + (query.map { "?" + $0 } ?? "") }
        }
        var scheme: String
        var host: String
        var requests: [Request]
        var requestURIs: [String] { requests.map(\.uri) }
    }

    static func target(_ url: String) -> Target? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
              scheme == "http" || scheme == "https", let host = components.host?.lowercased(), !host.isEmpty else { return nil }
        let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        let query = components.percentEncodedQuery
        var requests = [Target.Request(path: path, query: query)]
        if path.hasPrefix("/proxy/preview/") {
            requests.append(.init(path: "/proxy/" + path.dropFirst("/proxy/preview/".count), query: query))
        } else if path.hasPrefix("/proxy/") {
            requests.append(.init(path: "/proxy/preview/" + path.dropFirst("/proxy/".count), query: query))
        }
        return Target(scheme: scheme, host: host, requests: requests)
    }

    /// Every cache key one URL may be stored under: each variant, and for
    /// a signed remote URL (/proxy/, /camo/) what `$herd_cache_uri` makes of
    /// it with and without `static`, the preview beside the file.
    static func keys(for url: String) -> [String]? {
        guard let target = target(url) else { return nil }
        let (scheme, host) = (target.scheme, target.host)
        var uris: [String] = []
        for request in target.requests {
            guard request.path.hasPrefix("/proxy/") || request.path.hasPrefix("/camo/") else {
                uris.append(request.uri)
                continue
            }
            // nginx's $arg_static: the raw value of the first `static`.
            let asked = request.query?.split(separator: "&").first { $0.hasPrefix("static=") }.map { String($0.dropFirst(7)) }
            for value in Array(Set(["", "true", asked ?? ""])).sorted() { uris.append("\(request.path)?static=\(value)") }
        }
        return uris.flatMap { uri in Variant.allCases.map { "\(scheme)\(host)\(uri)|\($0.rawValue)" } }
    }

    /// The file nginx keeps `key` in.
    func path(for key: String) -> String {
        let digest = Insecure.MD5.hash(data: Data(key.utf8)).map { String(format: "%02x", $0) }.joined()
        var components = [directory]
        var end = digest.endIndex
        for level in levels {
            let start = digest.index(end, offsetBy: -level)
            components.append(String(digest[start..<end]))
            end = start
        }
        components.append(digest)
        return components.joined(separator: "/")
    }

    /// Removes every cached variant of `url`, under both schemes (behind a
    /// proxy that ends TLS, nginx's `$scheme` is http for an https URL);
    /// the entries removed.
    func purge(_ url: String) -> [Entry]? {
        guard let target = Self.target(url), var keys = Self.keys(for: url) else { return nil }
        let other = target.scheme == "https" ? "http" : "https"
        keys += Self.keys(for: other + url.drop { $0 != ":" }) ?? []
        var removed: [Entry] = []
        for key in keys {
            let path = path(for: key)
            guard Self.holds(path: path, key: key), (try? FileManager.default.removeItem(atPath: path)) != nil else { continue }
            removed.append(Entry(key: key, path: path))
        }
        return removed
    }

    /// Whether the cache file at `path` is the entry for `key` (its header
    /// names the key), read from its first 8 KB.
    static func holds(path: String, key: String) -> Bool {
        guard let handle = FileHandle(forReadingAtPath: path) else { return false }
        defer { try? handle.close() }
        let head = (try? handle.read(upToCount: 8192)) ?? Data()
        return head.range(of: Data("\nKEY: \(key)\n".utf8)) != nil
    }

    /// What purging one URL did: the cache entries removed, how many workers
    /// held its source and forgot it, and the workers that could not be told.
    public struct Report: Sendable {
        public var removed: [Entry]
        public var forgotten: Int
        public var workerErrors: [String]
    }

    /// Every worker (its socket) told to forget the source it may hold in
    /// memory, with a FastCGI request carrying `HERD_PURGE` (a param nginx
    /// never sends), then every cached variant of `url` out of nginx's
    /// cache. In that order: a miss between the two steps is then fetched
    /// from the origin, never refilled from a worker's old copy.
    /// Nil when `url` is not an http(s) URL with a host.
    public func purgeEverywhere(_ url: String, sockets: [String]) -> Report? {
        guard let target = Self.target(url), Self.keys(for: url) != nil else { return nil }
        var report = Report(removed: [], forgotten: 0, workerErrors: [])
        for socket in sockets {
            guard let endpoint = try? BindAddress(parsing: socket) else {
                report.workerErrors.append("worker \(socket): not a socket path or host:port")
                continue
            }
            for uri in target.requestURIs {
                do {
                    let answer = try FastCGIClient.request(endpoint, params: [
                        ("REQUEST_METHOD", "GET"), ("REQUEST_URI", uri), ("HERD_PURGE", "1"),
                    ])
                    if String(decoding: answer, as: UTF8.self).contains("forgot:") { report.forgotten += 1 }
                } catch {
                    report.workerErrors.append("worker \(socket): \(error)")
                }
            }
        }
        report.removed = purge(url) ?? []
        return report
    }

    /// The workers to tell: `purge.sockets`, else the systemd pool's
    /// sockets (/run/herd/herd-N.sock; not the purge service's own).
    public static func workerSockets(configured: [String], directory: String = "/run/herd") -> [String] {
        guard configured.isEmpty else { return configured }
        let names = (try? FileManager.default.contentsOfDirectory(atPath: directory)) ?? []
        return names.filter { $0.hasPrefix("herd-") && $0.hasSuffix(".sock") }.sorted().map { directory + "/" + $0 }
    }
}
