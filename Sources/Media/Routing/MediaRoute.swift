import Settings

/// The paths a worker serves. Everything else is 404 and never reaches the
/// origin: a worker is a media proxy, not an open proxy.
public enum Route: Equatable, Sendable {
    case media(MediaRoute)
    case health
    case metrics
    case notFound

    /// A short name for metric labels and logs.
    public var label: String {
        switch self {
        case .media(let route): route.rawValue
        case .health: "health"
        case .metrics: "metrics"
        case .notFound: "not_found"
        }
    }
}

/// Media route profiles, derived from the path alone (`Router.route`): nginx
/// sends no route of its own, so the location and herd cannot disagree. The
/// names are the `herd.route` log field and metric label.
public enum MediaRoute: String, Sendable, CaseIterable {
    /// Mastodon's Paperclip files under `/system/…`.
    case mastodonMedia = "mastodon-media"
    /// Mastodon's `/media_proxy/ID/(original|small)`, which answers 302.
    case mastodonMediaProxy = "mastodon-media-proxy"
    /// Akkoma/Pleroma uploads under `/media/…`.
    case akkomaMedia = "akkoma-media"
    /// Akkoma/Pleroma's remote media proxy `/proxy/…` (and `/proxy/preview/…`).
    case akkomaProxy = "akkoma-proxy"
    /// go-camo compatible signed remote URLs `/camo/DIGEST/URL` (`camo.key`).
    case camo
    /// Misskey's external media proxy `/proxy/{name}?url=…` (one segment;
    /// `misskey.enabled`).
    case misskeyProxy = "misskey-proxy"
}

/// Where uploads live in the paths herd is asked for: `/system/…` and
/// `/media/…` on the instance's own host; nothing in front on a files host
/// that serves an object-storage bucket (`routes.mastodon_prefix = ""`:
/// `/media_attachments/…`, `/accounts/avatars/…`, `/cache/…`).
public struct RoutePrefixes: Sendable, Equatable {
    public var mastodon: String
    public var akkoma: String

    public init(mastodon: String = "/system", akkoma: String = "/media") {
        self.mastodon = mastodon
        self.akkoma = akkoma
    }

    public static let standard = RoutePrefixes()

    /// "" or "/name[/name…]", no trailing slash.
    public static func isValid(_ prefix: String) -> Bool {
        prefix.isEmpty || (prefix.hasPrefix("/") && !prefix.hasSuffix("/") && !prefix.contains("//")
            && prefix.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "A" && $0 <= "Z") || ($0 >= "0" && $0 <= "9")
                || $0 == "/" || $0 == "-" || $0 == "_" || $0 == "." })
    }
}

public enum Router {
    /// Subfolders of Mastodon's `/system/` that hold media. Its `cache/`
    /// folder mirrors remote media under the same names.
    static let mastodonSystemFolders = [
        "media_attachments/", "accounts/avatars/", "accounts/headers/",
        "custom_emojis/", "preview_cards/", "site_uploads/", "cache/",
    ]

    /// Routes a validated path (no query).
    public static func route(path: Substring, prefixes: RoutePrefixes = .standard) -> Route {
        if path == "/health" { return .health }
        if path == "/metrics" { return .metrics }
        if path.hasPrefix("/media_proxy/") {
            return path.count > "/media_proxy/".count ? .media(.mastodonMediaProxy) : .notFound
        }
        if path.hasPrefix("/proxy/") {
            let rest = path.dropFirst("/proxy/".count)
            if rest.isEmpty { return .notFound }
            // One segment is Misskey's `/proxy/image.webp?url=…`; Akkoma's
            // signed URLs always have two or more.
            return rest.contains("/") ? .media(.akkomaProxy) : .media(.misskeyProxy)
        }
        if path.hasPrefix("/camo/") {
            return path.count > "/camo/".count ? .media(.camo) : .notFound
        }
        if path.hasPrefix(prefixes.mastodon + "/") {
            let rest = path.dropFirst(prefixes.mastodon.count + 1)
            if hasFile(in: rest, under: mastodonSystemFolders) { return .media(.mastodonMedia) }
            // Under /system/ nothing else is media; on a files host (no
            // prefix) the path may still be Akkoma's.
            if !prefixes.mastodon.isEmpty { return .notFound }
        }
        if path.hasPrefix(prefixes.akkoma + "/") {
            return path.count > prefixes.akkoma.count + 1 ? .media(.akkomaMedia) : .notFound
        }
        return .notFound
    }

    /// True if `rest` lies under one of `folders` with something after it.
    private static func hasFile(in rest: Substring, under folders: [String]) -> Bool {
        folders.contains { folder in rest.hasPrefix(folder) && rest.count > folder.count }
    }
}

extension HerdConfiguration.Routes {
    /// Where uploads live in request paths.
    public var prefixes: RoutePrefixes { RoutePrefixes(mastodon: mastodonPrefix, akkoma: akkomaPrefix) }
}
