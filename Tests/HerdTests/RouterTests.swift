import Testing
@testable import Herd

@Suite("Routes")
struct RouterTests {
    @Test("media paths map to their route profile", arguments: [
        ("/system/media_attachments/files/1/original/a.jpg", Route.media(.mastodonMedia)),
        ("/system/accounts/avatars/1/original/a.png", .media(.mastodonMedia)),
        ("/system/accounts/headers/1/original/a.png", .media(.mastodonMedia)),
        ("/system/custom_emojis/images/1/original/a.png", .media(.mastodonMedia)),
        ("/system/cache/media_attachments/files/1/original/a.jpg", .media(.mastodonMedia)),
        ("/system/preview_cards/images/1/original/a.jpg", .media(.mastodonMedia)),
        ("/system/site_uploads/files/1/a.png", .media(.mastodonMedia)),
        ("/media_proxy/123/original", .media(.mastodonMediaProxy)),
        ("/media/ab/cd/a.jpg", .media(.akkomaMedia)),
        ("/proxy/sig/url/a.jpg", .media(.akkomaProxy)),
        ("/health", .health),
        ("/metrics", .metrics),
    ])
    func media(path: String, route: Route) {
        #expect(Router.route(path: path[...]) == route)
    }

    @Test("everything else is not found", arguments: [
        "/", "/system/", "/system/accounts/", "/system/accounts/other/x", "/system/secret.yml", "/systemx/media_attachments/a",
        "/media/", "/proxy/", "/media_proxy/", "/api/v1/instance", "/users/alice", "/health/x", "/metricsx", "/.env",
    ])
    func notFound(path: String) {
        #expect(Router.route(path: path[...]) == .notFound)
    }
}
