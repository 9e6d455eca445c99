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
}

public enum Router {
    /// Subfolders of Mastodon's `/system/` that hold media. Its `cache/`
    /// folder mirrors remote media under the same names.
    static let mastodonSystemFolders = [
        "media_attachments/", "accounts/avatars/", "accounts/headers/",
        "custom_emojis/", "preview_cards/", "site_uploads/", "cache/",
    ]

    /// Routes a validated path (no query).
    public static func route(path: Substring) -> Route {
        if path == "/health" { return .health }
        if path == "/metrics" { return .metrics }
        if path.hasPrefix("/system/") {
            let rest = path.dropFirst("/system/".count)
            return hasFile(in: rest, under: mastodonSystemFolders) ? .media(.mastodonMedia) : .notFound
        }
        if path.hasPrefix("/media_proxy/") {
            return path.count > "/media_proxy/".count ? .media(.mastodonMediaProxy) : .notFound
        }
        if path.hasPrefix("/media/") {
            return path.count > "/media/".count ? .media(.akkomaMedia) : .notFound
        }
        if path.hasPrefix("/proxy/") {
            return path.count > "/proxy/".count ? .media(.akkomaProxy) : .notFound
        }
        if path.hasPrefix("/camo/") {
            return path.count > "/camo/".count ? .media(.camo) : .notFound
        }
        return .notFound
    }

    /// True if `rest` lies under one of `folders` with something after it.
    private static func hasFile(in rest: Substring, under folders: [String]) -> Bool {
        folders.contains { folder in rest.hasPrefix(folder) && rest.count > folder.count }
    }
}
