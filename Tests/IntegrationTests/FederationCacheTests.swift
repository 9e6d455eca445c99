import Foundation
import Testing
import HerdTestSupport

/// The app microcache under traffic shaped like real federation: every
/// server signs its fetches, visitors ask in their own languages, and the
/// app (demo/fediverse.py, answering as Mastodon, Akkoma or GoToSocial do,
/// in both fetch modes) decides what is shared.
@Suite("Federation traffic through the app microcache", .serialized)
struct FederationCacheTests {
    static let activityJSON = "application/activity+json"
    static let mastodonFetchAccept = "application/activity+json, application/ld+json"
    static let html = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

    /// `count` requests at once, one per thread.
    static func concurrently(_ count: Int, _ body: @escaping @Sendable (Int) throws -> HTTPResponse) -> [HTTPResponse] {
        let results = ResultsBox()
        DispatchQueue.concurrentPerform(iterations: count) { index in
            results.append(Result { try body(index) })
        }
        return results.all.compactMap { try? $0.get() }
    }

    static func seenBy(_ response: HTTPResponse) -> String? {
        (try? JSONSerialization.jsonObject(with: Data(response.body)) as? [String: Any])?["x-seen-by"] as? String
    }

    @Test("public fetch mode: 20 servers signing at once cost the app 1 request, 20 more within the TTL cost 0; one body for all")
    func signedStorm() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let path = "/users/alice/statuses/7"
        let first = Self.concurrently(20) { index in
            try stack.get(path, headers: [("Accept", Self.mastodonFetchAccept)]
                                 + Signer(server: "server\(index).example").headers(get: path))
        }
        #expect(first.count == 20 && first.allSatisfy { $0.status == 200 })
        let afterFirst = try stack.originCount(path)
        let second = Self.concurrently(20) { index in
            let signer = Signer(server: "later\(index).example")
            // Half of them sign as RFC 9421 does (Mastodon 4.4+).
            return try stack.get(path, headers: [("Accept", Self.activityJSON)]
                                 + (index.isMultiple(of: 2) ? signer.headers(get: path) : signer.rfc9421Headers(get: path)))
        }
        #expect(second.count == 20 && second.allSatisfy { $0.status == 200 && $0.header("X-Cache-Status") == "HIT" })
        let afterSecond = try stack.originCount(path)
        print("signed storm: 20 signers → \(afterFirst) app request(s); 20 more → \(afterSecond - afterFirst)")
        #expect(afterFirst <= 2)
        #expect(afterSecond == afterFirst)
        // What the app marked public is the same for every signer, and names none.
        #expect(Set((first + second).map(\.body)).count == 1)
        #expect(Self.seenBy(first[0]) == nil)
    }

    @Test("signed and unsigned requests never share an entry; a forged signature's 401 is never stored")
    func signedAndUnsignedApart() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let path = "/users/alice/statuses/8"
        let signed = try stack.get(path, headers: [("Accept", Self.activityJSON)] + Signer(server: "a.example").headers(get: path))
        let unsigned = try stack.get(path, headers: [("Accept", Self.activityJSON)])
        #expect(signed.header("X-Cache-Status") == "MISS" && unsigned.header("X-Cache-Status") == "MISS")
        #expect(try stack.originCount(path) == 2)

        let forgedPath = "/users/alice/statuses/9"
        var forged = Signer(server: "b.example").headers(get: forgedPath)
        forged[1].1 = forged[1].1.replacingOccurrences(of: "signature=\"", with: "signature=\"AAAA")
        let refused = try stack.get(forgedPath, headers: [("Accept", Self.activityJSON)] + forged)
        #expect(refused.status == 401)
        let honest = try stack.get(forgedPath, headers: [("Accept", Self.activityJSON)] + Signer(server: "b.example").headers(get: forgedPath))
        #expect(honest.status == 200 && honest.header("X-Cache-Status") == "MISS", "a 401 stored under the signed key")
    }

    @Test("authorized fetch mode: each signer gets its own view; unsigned fetches get the 401, never a signer's answer, nor a signer the 401")
    func authorizedFetch() throws {
        let stack = try AppStack(originArguments: ["--authorized-fetch"])
        defer { stack.stop() }
        let path = "/users/alice/statuses/10"
        func unsigned() throws -> HTTPResponse { try stack.get(path, headers: [("Accept", Self.activityJSON)]) }
        func signed(_ server: String) throws -> HTTPResponse {
            try stack.get(path, headers: [("Accept", Self.activityJSON)] + Signer(server: server).headers(get: path))
        }
        for round in 0..<2 {
            #expect(try unsigned().status == 401, "round \(round)")
            for server in ["one.example", "two.example", "three.example"] {
                let response = try signed(server)
                #expect(response.status == 200)
                #expect(Self.seenBy(response) == Signer(server: server).keyID, "round \(round): \(server) got \(Self.seenBy(response) ?? "nil")")
            }
            let again = try unsigned()
            #expect(again.status == 401 && Self.seenBy(again) == nil)
        }
        #expect(try stack.originCount(path) == 10, "nothing signer-dependent or 401 may be stored")
    }

    @Test("the admin's switch ($herd_authorized_fetch 1): signed requests bypass the microcache")
    func authorizedFetchSwitch() throws {
        let stack = try AppStack(serverLines: "set $herd_authorized_fetch 1;")
        defer { stack.stop() }
        let path = "/users/alice/statuses/12"
        for server in ["a.example", "b.example"] {
            let response = try stack.get(path, headers: [("Accept", Self.activityJSON)] + Signer(server: server).headers(get: path))
            #expect(response.header("X-Cache-Status") == "BYPASS")
        }
        _ = try stack.get(path, headers: [("Accept", Self.activityJSON)])
        #expect(try stack.get(path, headers: [("Accept", Self.activityJSON)]).header("X-Cache-Status") == "HIT", "unsigned still shared")
    }

    @Test("a followers-only status reaches only a signer who may see it, in every order of requests, in both fetch modes",
          arguments: [false, true])
    func followersOnly(authorized: Bool) throws {
        let stack = try AppStack(originArguments: authorized ? ["--authorized-fetch"] : [])
        defer { stack.stop() }
        let path = "/users/alice/statuses/100"  // the stand-in's followers-only status; friend.example follows
        let orders: [[String?]] = [["friend.example", "stranger.example", nil], [nil, "stranger.example", "friend.example"],
                                   ["stranger.example", "friend.example", "friend.example", nil, "stranger.example"]]
        for order in orders {
            for server in order {
                let headers = [("Accept", Self.activityJSON)] + (server.map { Signer(server: $0).headers(get: path) } ?? [])
                let response = try stack.get(path, headers: headers)
                switch server {
                case "friend.example":
                    #expect(response.status == 200 && Self.seenBy(response) == Signer(server: "friend.example").keyID)
                case .some:
                    #expect(response.status == 404 && Self.seenBy(response) == nil, "\(order): a stranger got \(response.status)")
                case .none:
                    #expect(response.status == (authorized ? 401 : 404) && Self.seenBy(response) == nil)
                }
            }
        }
    }

    @Test("logged-out visitors get their own language, never each other's; languages outside the set bypass")
    func languages() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let path = "/@alice/13"
        func page(_ language: String?) throws -> (lang: String, cache: String?) {
            let response = try stack.get(path, headers: [("Accept", Self.html)] + (language.map { [("Accept-Language", $0)] } ?? []))
            let lang = response.text.range(of: "lang=\"").map { response.text[$0.upperBound...].prefix { $0 != "\"" } }.map(String.init) ?? "?"
            return (lang, response.header("X-Cache-Status"))
        }
        #expect(try page("de-DE,de;q=0.9,en;q=0.8") == ("de", "MISS"))
        #expect(try page("fr-FR,fr;q=0.9") == ("fr", "MISS"))
        #expect(try page("de-AT") == ("de", "HIT"), "one bucket per language the app answers alike")
        #expect(try page("fr") == ("fr", "HIT"))
        #expect(try page(nil) == ("en", "MISS"))
        #expect(try page("pt-BR") == ("pt-BR", "MISS"))
        #expect(try page("pt-PT") == ("pt-PT", "MISS"), "the app's regional locales are keys of their own")
        #expect(try page("EN-gb") == ("en-GB", "MISS"))
        #expect(try page("en-GB") == ("en-GB", "HIT"))
        #expect(try page("tlh").cache == "BYPASS", "a language outside the set is never stored")
        #expect(try page("en;q=0.5, de").cache == "BYPASS", "a weighted first tag: the app sorts by q")
        #expect(try page("*").cache == "BYPASS")
        #expect(try page("de") == ("de", "HIT"))
        // The bucket is the locale the app picks for every tag in it.
        #expect(try page("sr-Latn-RS") == ("sr", "MISS"), "Mastodon picks sr for it: the sr bucket")
        #expect(try page("sr-Latn") == ("sr-Latn", "MISS"))
        #expect(try page("zh-TW-x") == ("zh-CN", "MISS"))
        #expect(try page("zh-TW") == ("zh-TW", "MISS"))
        #expect(try page("aa, ja").cache == "BYPASS", "a language the app lacks: it would answer in the next one")
        #expect(try page("de, fr;q=2").cache == "BYPASS", "a later tag weighted above the first")
        #expect(try page("de, fr").cache == "BYPASS", "a later tag not weighted below the first")
        #expect(try page("de-DE, de;q=0.9, fr;q=0.5") == ("de", "HIT"))
    }

    @Test("a status deleted since is not served from an expired entry: the next request gets the app's 404, never STALE")
    func deletedNotStale() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let path = "/users/alice/statuses/777?cc=public,%20max-age=1"
        func fetch(_ server: String) throws -> HTTPResponse {
            try stack.get(path, headers: [("Accept", Self.activityJSON)] + Signer(server: server).headers(get: path))
        }
        #expect(try fetch("a.example").status == 200)
        #expect(try fetch("b.example").header("X-Cache-Status") == "HIT")
        _ = try RawHTTP.request(port: stack.originPort, target: "/__delete?id=777")
        // nginx's clock moves in whole seconds: past the 1 s lifetime for sure.
        Thread.sleep(forTimeInterval: 2.2)
        for server in ["c.example", "d.example", "e.example"] {
            let answer = try fetch(server)
            #expect(answer.status == 404 && answer.header("X-Cache-Status") != "STALE",
                    "\(server): \(answer.status) \(answer.header("X-Cache-Status") ?? "")")
        }
    }

    @Test("an answer to a cross-origin request (Origin) is an entry of its own; a Vary the key does not cover is never stored")
    func originAndVary() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let path = "/api/v1/instance"
        #expect(try stack.get(path).header("X-Cache-Status") == "MISS")
        #expect(try stack.get(path, headers: [("Origin", "https://elk.zone")]).header("X-Cache-Status") == "MISS")
        #expect(try stack.get(path, headers: [("Origin", "https://other.example")]).header("X-Cache-Status") == "HIT")
        let varies = "/@alice/14?vary=User-Agent"
        _ = try stack.get(varies, headers: [("Accept", Self.html)])
        #expect(try stack.get(varies, headers: [("Accept", Self.html)]).header("X-Cache-Status") == "MISS")
        let covered = "/@alice/14?vary=Accept,%20Accept-Language,%20Cookie,%20Origin"
        _ = try stack.get(covered, headers: [("Accept", Self.html)])
        #expect(try stack.get(covered, headers: [("Accept", Self.html)]).header("X-Cache-Status") == "HIT")
    }

    @Test("Akkoma: ActivityPub and pages are private (Plug's default), never stored; authorized fetch's unsigned 401 never stored")
    func akkoma() throws {
        for authorized in [false, true] {
            let stack = try AppStack(.akkoma, originArguments: authorized ? ["--authorized-fetch"] : [])
            defer { stack.stop() }
            let path = "/objects/0b1a"
            for server in ["a.example", "b.example"] {
                let response = try stack.get(path, headers: [("Accept", Self.activityJSON)] + Signer(server: server).headers(get: path))
                #expect(response.status == 200 && response.header("X-Cache-Status") == "MISS")
                #expect(Self.seenBy(response) == Signer(server: server).keyID)
            }
            for _ in 0..<2 {
                let response = try stack.get(path, headers: [("Accept", Self.activityJSON)])
                #expect(response.status == (authorized ? 401 : 200) && response.header("X-Cache-Status") == "MISS")
            }
            #expect(try stack.originCount(path) == 4)
        }
    }

    @Test("GoToSocial: always authorized fetch, no-store everywhere: nothing stored, each signer its own answer")
    func gotosocial() throws {
        let stack = try AppStack(originArguments: ["--app", "gotosocial"])
        defer { stack.stop() }
        let path = "/users/alice/statuses/01HX"
        #expect(try stack.get(path, headers: [("Accept", Self.activityJSON)]).status == 401)
        for server in ["a.example", "b.example", "a.example"] {
            let response = try stack.get(path, headers: [("Accept", Self.activityJSON)] + Signer(server: server).headers(get: path))
            #expect(response.status == 200 && Self.seenBy(response) == Signer(server: server).keyID)
        }
        #expect(try stack.originCount(path) == 4)
    }

    @Test("one request id in nginx's log, the app's request and herd's log line; a client's own X-Request-Id is not taken, a trusted proxy's is")
    func requestIDs() throws {
        let stack = try AppStack()
        defer { stack.stop() }
        let page = try stack.get("/@alice/15", headers: [("Accept", Self.html), ("X-Request-Id", "client-chosen")])
        #expect(page.status == 200)
        let appSaw = try stack.lastOriginHeaders("/@alice/15")["X-Request-Id"] ?? ""
        #expect(appSaw.count == 32 && appSaw != "client-chosen", "\(appSaw)")
        let media = try stack.get("/system/media_attachments/files/000/000/001/original/photo.jpg?rid=1",
                                  headers: [("Accept", "image/webp,*/*")])
        #expect(media.status == 200)
        Thread.sleep(forTimeInterval: 0.3)
        let access = try String(contentsOf: stack.directory.appendingPathComponent("access.log"), encoding: .utf8)
        #expect(access.contains("request_id=\(appSaw)"), "nginx's line for the page")
        let mediaLine = try #require(access.split(separator: "\n").last { $0.contains("rid=1") })
        let mediaID = try #require(mediaLine.range(of: "request_id=").map { String(mediaLine[$0.upperBound...].prefix(32)) })
        #expect(stack.herd.log.contains(mediaID), "herd's line carries nginx's id \(mediaID)")

        let trusting = try AppStack(patchNginx: { herd in
            try "geo $realip_remote_addr $herd_trusted_proxy { default 0; 127.0.0.1 1; }\n"
                .write(to: herd.appendingPathComponent("install/trusted-proxies.conf"), atomically: true, encoding: .utf8)
        })
        defer { trusting.stop() }
        _ = try trusting.get("/@alice/16", headers: [("Accept", Self.html), ("X-Request-Id", "edge-abc-123")])
        #expect(try trusting.lastOriginHeaders("/@alice/16")["X-Request-Id"] == "edge-abc-123")
        _ = try trusting.get("/@alice/17", headers: [("Accept", Self.html), ("X-Request-Id", "bad id\";")])
        #expect(try trusting.lastOriginHeaders("/@alice/17")["X-Request-Id"] != "bad id\";")
    }
}
