import Testing
import Herd
@testable import Media
import Settings

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

/// The files host of an object-storage bucket: no /system prefix.
@Suite("Routes with prefixes")
struct RoutePrefixTests {
    @Test("a files host (mastodon_prefix = \"\"): the bucket's layout is media, the rest is not")
    func filesHost() {
        let bucket = RoutePrefixes(mastodon: "", akkoma: "/media")
        for path in ["/media_attachments/files/109/1/original/a.jpg", "/accounts/avatars/1/original/a.png", "/cache/media_attachments/x.jpg",
                     "/custom_emojis/images/1/a.png"] {
            #expect(Router.route(path: path[...], prefixes: bucket) == .media(.mastodonMedia), "\(path)")
        }
        for path in ["/", "/about", "/api/v1/instance", "/media_attachments/", "/system/media_attachments/files/a.jpg"] {
            #expect(Router.route(path: path[...], prefixes: bucket) == .notFound, "\(path)")
        }
        // Akkoma's S3 uploads at the bucket's root.
        let akkomaBucket = RoutePrefixes(mastodon: "/system", akkoma: "")
        #expect(Router.route(path: "/2f/8a/cat.png", prefixes: akkomaBucket) == .media(.akkomaMedia))
        #expect(Router.route(path: "/", prefixes: akkomaBucket) == .notFound)
        #expect(Router.route(path: "/proxy/a/b/c", prefixes: akkomaBucket) == .media(.akkomaProxy))
    }

    @Test("prefixes are \"\" or a path without a trailing slash")
    func validation() {
        #expect(RoutePrefixes.isValid(""))
        #expect(RoutePrefixes.isValid("/system"))
        #expect(RoutePrefixes.isValid("/a/b-c_d.e"))
        for bad in ["system", "/system/", "//x", "/a b", "/a?b"] { #expect(!RoutePrefixes.isValid(bad), "\(bad)") }
    }
}
