import Foundation
import HerdTestSupport
import Testing

/// Hostile and broken origins, byte for byte (HostileOrigin), through the
/// shipped nginx configuration and straight to one herd worker. Whatever
/// the origin sends: the client gets a clear status (its bytes, or an
/// error), nothing forged or broken is stored, and herd keeps serving.
@Suite("Hostile origins", .serialized)
struct HostileOriginTests {
    static let jpeg = TestImages.jpeg(TestImages.photo(width: 120, height: 80))
    /// Not an image (herd streams it): an MP4-like header and filler.
    static let video: [UInt8] = Array("\u{0}\u{0}\u{0}\u{18}ftypmp42".utf8)
        + Array(String(repeating: "VIDEO-DATA-0123456789abcdef-", count: 700).utf8)
    static let forged = HostileOrigin.response(headers: [
        ("Content-Type", "image/jpeg"), ("Cache-Control", "public, max-age=999999"),
    ], body: "FORGED")

    static func ok(_ body: [UInt8], type: String = "image/jpeg", extra: [(String, String)] = []) -> [UInt8] {
        HostileOrigin.response(headers: [("Content-Type", type)] + extra, body: body)
    }

    static func media(_ folder: Int, _ file: String) -> String {
        "/system/media_attachments/files/000/000/\(folder)/original/\(file)"
    }

    // MARK: - The origin itself

    @Test("HostileOrigin: one script per path on a kept-alive connection, requests counted and recorded; stop() ends every thread, even one sending forever")
    func originItself() throws {
        let origin = try HostileOrigin()
        origin.on("/a", [.send(HostileOrigin.response(body: "A-BODY")), .keepOpen])
        origin.on("/endless", [.send(HostileOrigin.head(headers: [("Connection", "close")])),
                               .endless([UInt8](repeating: 0x78, count: 1024), interval: 0.01)])
        origin.on("/hold", [.hold(60)])

        // Two requests in one write, answered in order on the same connection.
        let keptAlive = try RawConnection(port: origin.port)
        keptAlive.send("GET /a HTTP/1.1\r\nHost: origin\r\n\r\nGET /a?second=1 HTTP/1.1\r\nHost: origin\r\nX-Test: 2\r\n\r\n")
        let answers = keptAlive.read { bytes in
            String(decoding: bytes, as: UTF8.self).components(separatedBy: "A-BODY").count - 1 >= 2
        }
        #expect(String(decoding: answers, as: UTF8.self).components(separatedBy: "HTTP/1.1 200 OK").count - 1 == 2)
        #expect(origin.requestCount("/a") == 2)
        #expect(origin.connections == 1)
        let received = origin.received
        #expect(received.map(\.target) == ["/a", "/a?second=1"])
        #expect(received.map(\.indexOnConnection) == [1, 2])
        #expect(received.last?.header("x-test") == "2")
        #expect(origin.requestCount("/nowhere") == 0)

        // One connection receiving forever, one held silent, one idle.
        let endless = try RawConnection(port: origin.port)
        endless.send("GET /endless HTTP/1.1\r\nHost: origin\r\n\r\n")
        #expect(endless.read { $0.count > 10_000 }.count > 10_000)
        let held = try RawConnection(port: origin.port)
        held.send("GET /hold HTTP/1.1\r\nHost: origin\r\n\r\n")
        let idle = try RawConnection(port: origin.port)
        #expect(Wait.until(timeout: 5) { origin.connections == 4 && origin.totalRequests == 4 })
        #expect(origin.runningThreads == 5, "the accept loop and four connections")

        let started = Date()
        origin.stop()
        #expect(Date().timeIntervalSince(started) < 3, "stop() took \(Date().timeIntervalSince(started)) s")
        #expect(origin.runningThreads == 0)
        #expect(!RawHTTP.isListening(port: origin.port))
        #expect(idle.read { _ in false }.isEmpty, "an idle connection is closed by stop()")
        _ = held
    }

    // MARK: - Desync: a forged response after a correct one

    /// How the forged response follows the correct one.
    enum Forgery: CustomStringConvertible {
        /// In the same `send`.
        case sameWrite
        /// In the same `send`, the correct response exactly 64 KiB (libcurl's
        /// read buffer as herd sets it): the forged bytes start the next read.
        case sameWriteAligned
        /// 0.3 s later.
        case later

        var description: String {
            switch self {
            case .sameWrite: "same write"
            case .sameWriteAligned: "same write after a 64 KiB answer"
            case .later: "0.3 s later"
            }
        }
    }

    @Test("desync, same write, straight to a worker (one herd thread): a later request never gets the forged response")
    func desyncSameWriteWorker() throws { try desync(.sameWrite, throughCache: false) }

    @Test("desync, same write after a 64 KiB answer, straight to a worker (one herd thread): a later request never gets the forged response")
    func desyncAlignedWorker() throws { try desync(.sameWriteAligned, throughCache: false) }

    @Test("desync, forged response 0.3 s later, straight to a worker (one herd thread): a later request never gets it")
    func desyncDelayedWorker() throws { try desync(.later, throughCache: false) }

    @Test("desync, same write, through nginx's media cache (one herd thread): no answer and no stored entry is the forged one")
    func desyncSameWriteCache() throws { try desync(.sameWrite, throughCache: true) }

    @Test("desync, same write after a 64 KiB answer, through nginx's media cache (one herd thread): no answer and no stored entry is the forged one")
    func desyncAlignedCache() throws { try desync(.sameWriteAligned, throughCache: true) }

    @Test("desync, forged response 0.3 s later, through nginx's media cache (one herd thread): no answer and no stored entry is the forged one")
    func desyncDelayedCache() throws { try desync(.later, throughCache: true) }

    /// The poisoning path's correct body: for `.sameWriteAligned`, padded so
    /// head and body are exactly 64 KiB (a JPEG ignores bytes after its end).
    static func poisonBody(_ path: String, _ forgery: Forgery) -> (type: String, body: [UInt8]) {
        let isImage = path.hasSuffix(".jpg")
        let type = isImage ? "image/jpeg" : "video/mp4"
        let body = isImage ? jpeg : video
        guard case .sameWriteAligned = forgery else { return (type, body) }
        let head = HostileOrigin.head(headers: [("Content-Type", type), ("Content-Length", "00000")]).count
        return (type, body + [UInt8](repeating: 0x20, count: 65_536 - head - body.count))
    }

    static func victimBody(_ path: String) -> [UInt8] {
        path.hasSuffix(".jpg") ? jpeg : Array("VICTIM-BODY \(path) ".utf8) + video
    }

    private func desync(_ forgery: Forgery, throughCache: Bool) throws {
        let origin = try HostileOrigin()
        defer { origin.stop() }
        // Poison: a correct answer, then a complete forged response on the same connection.
        origin.onPrefix("/system/media_attachments/files/000/000/201/") { request in
            let (type, body) = Self.poisonBody(request.path, forgery)
            let good = Self.ok(body, type: type)
            switch forgery {
            case .sameWrite, .sameWriteAligned: return [.send(good + Self.forged), .keepOpen]
            case .later: return [.send(good), .pause(0.3), .send(Self.forged), .keepOpen]
            }
        }
        // Victims: unrelated paths with answers of their own.
        origin.onPrefix("/system/media_attachments/files/000/000/202/") { request in
            [.send(Self.ok(Self.victimBody(request.path), type: request.path.hasSuffix(".jpg") ? "image/jpeg" : "video/mp4")), .keepOpen]
        }
        let port: UInt16
        let cacheDirectory: URL?
        let stop: () -> Void
        let herdRunning: () -> Bool
        if throughCache {
            let stack = try AppStack(herdArguments: ["--threads", "1"], upstreamURL: origin.url)
            (port, cacheDirectory, stop, herdRunning) = (stack.port, stack.directory.appendingPathComponent("cache"), stack.stop, { stack.herd.isRunning })
        } else {
            let stack = try Stack(.init(herdArguments: ["--threads", "1"], upstreamURL: origin.url))
            (port, cacheDirectory, stop, herdRunning) = (stack.nginxPort, nil, stack.stop, { stack.herd.isRunning })
        }
        defer { stop() }

        func check(_ response: FramedResponse, expected: [UInt8], _ label: String) {
            #expect(!HostileOrigin.contains(response.body, "FORGED"), "\(label) got the forged response: \(Hostile.describe(response))")
            #expect(response.cacheControl?.contains("999999") != true,
                    "\(label) carries the forged Cache-Control: \(Hostile.describe(response))")
            let correct = response.status == 200 && response.complete && response.body == expected
            #expect(correct, "\(label): \(Hostile.describe(response))")
        }

        var victims: [String] = []
        for round in 0..<3 {
            for poisonKind in ["jpg", "mp4"] {
                let poison = Self.media(201, "poison-\(round).\(poisonKind)")
                let first = try FramedHTTP.request(port: port, target: poison, headers: [("Accept", "*/*")])
                check(first, expected: Self.poisonBody(poison, forgery).body, "the poisoning request \(poison)")
                if case .later = forgery { Thread.sleep(forTimeInterval: 0.6) }
                for victimKind in ["jpg", "mp4"] {
                    let victim = Self.media(202, "victim-\(round)-\(poisonKind).\(victimKind)")
                    victims.append(victim)
                    let response = try FramedHTTP.request(port: port, target: victim, headers: [("Accept", "*/*")])
                    check(response, expected: Self.victimBody(victim), "\(victim) (after \(poison))")
                }
            }
        }
        print("desync (\(forgery), \(throughCache ? "nginx cache" : "worker")): "
              + "\(origin.totalRequests) origin requests on \(origin.connections) connections")

        if let cacheDirectory {
            for victim in victims {
                let again = try FramedHTTP.request(port: port, target: victim, headers: [("Accept", "*/*")])
                check(again, expected: Self.victimBody(victim), "\(victim) again (\(again.header("X-Cache-Status") ?? "-"))")
            }
            for entry in NginxCacheEntry.all(in: cacheDirectory) {
                #expect(!HostileOrigin.contains(entry.body, "FORGED"), "nginx stored the forged body under \(entry.key)")
                #expect(entry.secondsLeft <= 86_400 + 60, "nginx stored \(entry.key) for \(entry.secondsLeft) s (the forged max-age=999999?)")
                if entry.key.contains("/000/000/202/") {
                    let path = String(entry.key.dropFirst("httplocalhost".count).prefix { $0 != "|" })
                    let own = entry.body == Self.victimBody(path)
                    #expect(own, "stored \(entry.key): \(entry.body.count) bytes, not its own")
                }
            }
        }
        #expect(herdRunning())
    }

    // MARK: - Everything else an origin can send

    @Test("a hostile origin's answer: a clear status for the client, nothing wrong stored, herd keeps serving", arguments: HostileCase.all)
    func hostileAnswer(_ hostile: HostileCase) throws {
        let origin = try HostileOrigin()
        defer { origin.stop() }
        let path = Self.media(400, hostile.file)
        let controlImage = Self.media(401, "control.jpg"), controlVideo = Self.media(401, "control.mp4")
        origin.on(path, hostile.steps)
        origin.on(controlImage, [.send(Self.ok(Self.jpeg)), .keepOpen])
        origin.on(controlVideo, [.send(Self.ok(Self.video, type: "video/mp4")), .keepOpen])
        // One herd thread: every fetch uses the same libcurl handle, so a
        // connection the hostile answer left in a bad state is reused.
        let stack = try AppStack(herdArguments: ["--threads", "1", "--set", "upstream.timeout=2", "--set", "upstream.transfer_timeout=6"],
                                 upstreamURL: origin.url)
        defer { stack.stop() }
        let variant = hostile.accept == "*/*" ? "orig" : "avif"

        let started = Date()
        let first: FramedResponse
        do {
            first = try FramedHTTP.request(port: stack.port, target: path, headers: [("Accept", hostile.accept)], timeout: 40)
        } catch {
            Issue.record("\(hostile.name): no answer: \(error)")
            return
        }
        let elapsed = Date().timeIntervalSince(started)
        print("hostile case \(hostile.name.debugDescription): \(Hostile.describe(first)) in \(String(format: "%.1f", elapsed)) s")
        #expect(elapsed < hostile.within, "\(hostile.name): answered after \(String(format: "%.1f", elapsed)) s (bound \(hostile.within) s)")
        check(first, hostile, "first answer")
        if hostile.settle > 0 { Thread.sleep(forTimeInterval: hostile.settle) }

        // Asked again: a HIT must be what a fresh request gets, and acceptable itself.
        let again = try FramedHTTP.request(port: stack.port, target: path, headers: [("Accept", hostile.accept)], timeout: 40)
        if hostile.settle > 0, again.header("X-Cache-Status") != "HIT" { Thread.sleep(forTimeInterval: hostile.settle) }
        check(again, hostile, "second answer (\(again.header("X-Cache-Status") ?? "-"))")
        if again.header("X-Cache-Status") == "HIT" {
            let fresh = try FramedHTTP.request(port: stack.port, target: path,
                                               headers: [("Accept", hostile.accept), ("Authorization", "Bearer x")], timeout: 40)
            check(fresh, hostile, "a fresh answer (bypass)")
            if hostile.settle > 0 { Thread.sleep(forTimeInterval: hostile.settle) }
            #expect(again.status == fresh.status, "\(hostile.name): HIT \(Hostile.describe(again)) vs fresh \(Hostile.describe(fresh))")
            if again.status == 200, fresh.status == 200 {
                let same = again.body == fresh.body
                #expect(same, "\(hostile.name): HIT \(Hostile.describe(again)) vs fresh \(Hostile.describe(fresh))")
            }
        }

        // What nginx stored.
        for entry in NginxCacheEntry.all(in: stack.directory.appendingPathComponent("cache")) {
            // herd's own X-Accel-Expires (0 or the error lifetime, hidden from
            // clients by nginx) may be stored; none of the origin's X-Accel-*.
            for marker in ["FORGED", "INJECTED", "Set-Cookie", "X-Accel-Redirect", "X-Accel-Buffering", "X-Accel-Limit-Rate",
                           "X-Accel-Charset", "X-Accel-Expires: 999999"] {
                #expect(!HostileOrigin.contains(entry.raw, marker), "\(hostile.name): stored \(entry.key) contains \(marker)")
            }
            #expect(entry.secondsLeft <= 86_400 + 60, "\(hostile.name): stored \(entry.key) for \(entry.secondsLeft) s")
            // herd never makes a GET conditional on its own: a 304 stored under the key every GET shares answers them all without a body.
            #expect(entry.status != 304, "\(hostile.name): stored a 304 under \(entry.key) (for \(entry.secondsLeft) s)")
            if entry.status == 200, let length = entry.header("Content-Length").flatMap(Int.init) {
                #expect(entry.body.count == length, "\(hostile.name): stored \(entry.key) has \(entry.body.count) of its \(length) bytes")
            }
            if entry.key == Hostile.cacheKey(path, variant: variant), entry.status == 200 {
                let acceptable = hostile.outcomes.contains { outcome in
                    switch outcome {
                    case .bytes(let bytes), .shortLived(let bytes): return entry.body == bytes
                    case .empty(let status): return status == 200 && entry.body.isEmpty
                    case .image(let width, let height):
                        let size = Hostile.dimensions(entry.body)
                        return size?.width == width && size?.height == height
                    case .error, .refused, .cut: return false
                    }
                }
                #expect(acceptable, "\(hostile.name): stored a 200 of \(entry.body.count) bytes that is none of \(hostile.outcomes)")
            }
        }

        // herd keeps serving, on the same (single) thread and its connection.
        for round in 1...2 {
            for (control, body) in [(controlImage, Self.jpeg), (controlVideo, Self.video)] {
                let response = try FramedHTTP.request(port: stack.port, target: control,
                                                      headers: [("Accept", "*/*"), ("Authorization", "Bearer x")], timeout: 30)
                let correct = response.status == 200 && response.complete && response.body == body
                #expect(correct, "\(hostile.name): afterwards, \(control) (\(round)): \(Hostile.describe(response))")
            }
        }
        #expect(stack.herd.isRunning, "\(hostile.name): herd exited: \(stack.herd.log.suffix(2000))")
    }

    private func check(_ response: FramedResponse, _ hostile: HostileCase, _ label: String) {
        #expect(hostile.outcomes.contains { $0.matches(response) },
                "\(hostile.name), \(label): \(Hostile.describe(response)); acceptable: \(hostile.outcomes)")
        #expect(response.response.headers(named: "Set-Cookie").isEmpty, "\(hostile.name), \(label): a Set-Cookie reached the client")
        let accel = response.response.headers.filter { $0.name.lowercased().hasPrefix("x-accel-") }
        #expect(accel.isEmpty, "\(hostile.name), \(label): \(accel.map(\.name)) reached the client")
        for line in response.rawHeaderLines {
            #expect(!line.contains(0x0d) && !line.contains(0x0a) && !line.contains(0),
                    "\(hostile.name), \(label): a header line with CR, LF or NUL: \(String(decoding: line, as: UTF8.self).debugDescription)")
        }
        let head = response.rawHeaderLines.reduce([], +)
        for marker in ["FORGED", "INJECTED"] {
            #expect(!HostileOrigin.contains(response.body, marker) && !HostileOrigin.contains(head, marker),
                    "\(hostile.name), \(label): \(marker) reached the client")
        }
    }
}

// MARK: - The cases

struct HostileCase: Sendable, CustomTestStringConvertible {
    /// What a client may see.
    enum Outcome: Sendable, CustomStringConvertible {
        /// 200, complete, exactly these bytes.
        case bytes([UInt8])
        /// 200, exactly these bytes, with a lifetime of at most 60 s.
        case shortLived([UInt8])
        /// A 5xx with a short lifetime.
        case error
        /// A 4xx with a short lifetime (415: not an image herd can serve).
        case refused
        /// Cut short: herd failed after the head went out, nginx passed on what it had and closed.
        case cut
        /// This status, complete, with no body.
        case empty(Int)
        /// 200, complete, an image of this size (a conversion).
        case image(width: Int, height: Int)

        func matches(_ response: FramedResponse) -> Bool {
            let shortLived = Hostile.isShortLived(response.cacheControl)
            switch self {
            case .bytes(let bytes): return response.status == 200 && response.complete && response.body == bytes
            case .shortLived(let bytes): return response.status == 200 && response.complete && response.body == bytes && shortLived
            case .error: return (500...599).contains(response.status) && shortLived
            case .refused: return (400...499).contains(response.status) && shortLived
            case .cut: return (200...299).contains(response.status) && !response.complete
            case .empty(let status): return response.status == status && response.complete && response.body.isEmpty
            case .image(let width, let height):
                let size = Hostile.dimensions(response.body)
                return response.status == 200 && response.complete && size?.width == width && size?.height == height
            }
        }

        var description: String {
            switch self {
            case .bytes(let bytes): "200 with its \(bytes.count) bytes"
            case .shortLived(let bytes): "200 with its \(bytes.count) bytes, short-lived"
            case .error: "5xx, short-lived"
            case .refused: "4xx, short-lived"
            case .cut: "a response cut short"
            case .empty(let status): "\(status) without a body"
            case .image(let width, let height): "200 with a \(width)×\(height) image"
            }
        }
    }

    let name: String
    /// The file name under /system/media_attachments/…/original/ (.jpg: herd holds an image back; .mp4: streams).
    let file: String
    var accept = "*/*"
    let steps: [HostileOrigin.Step]
    let outcomes: [Outcome]
    /// Seconds to wait after each request herd answers for this path, so
    /// bytes the origin sends later arrive while herd's connection is idle.
    /// (A forged response that arrives while the next request is already in
    /// flight cannot be told from that request's answer in HTTP/1.1.)
    var settle: Double = 0
    /// Seconds the first answer may take (upstream.timeout is 2 s, upstream.transfer_timeout 6 s).
    var within: Double = 20

    var testDescription: String { name }

    static let jpeg = HostileOriginTests.jpeg
    static let bigJPEG = TestImages.jpeg(TestImages.photo(width: 640, height: 480))
    static let video = HostileOriginTests.video
    static let forged = HostileOriginTests.forged

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    /// A head written out by hand (any bytes), then `body`.
    static func raw(_ head: String, _ body: [UInt8] = []) -> [UInt8] { bytes(head) + body }

    static var all: [HostileCase] {
        let jpeg = Self.jpeg, video = Self.video
        func ok(_ body: [UInt8], _ type: String = "image/jpeg", _ extra: [(String, String)] = []) -> [UInt8] {
            HostileOriginTests.ok(body, type: type, extra: extra)
        }
        var cases: [HostileCase] = []
        func add(_ name: String, _ file: String, accept: String = "*/*", _ steps: [HostileOrigin.Step], _ outcomes: [Outcome],
                 within: Double = 20, settle: Double = 0) {
            cases.append(HostileCase(name: name, file: file, accept: accept, steps: steps, outcomes: outcomes, settle: settle, within: within))
        }

        // Header floods.
        let flood = (0..<5000).map { ("X-Flood-\($0)", "flood-value-\($0)") }
        add("5000 headers on an image", "flood.jpg", [.send(ok(jpeg, "image/jpeg", flood)), .keepOpen], [.bytes(jpeg), .error])
        add("5000 headers on a video", "flood.mp4", [.send(ok(video, "video/mp4", flood)), .keepOpen], [.bytes(video), .error])
        let many = (0..<1500).map { ("X-Many-\($0)", "value-\($0)") }
        add("1500 headers (~30 KB) on an image", "many.jpg", [.send(ok(jpeg, "image/jpeg", many)), .keepOpen], [.bytes(jpeg), .error])
        add("1500 headers (~30 KB) on a video", "many.mp4", [.send(ok(video, "video/mp4", many)), .keepOpen], [.bytes(video), .error])
        let huge = [("X-Huge", String(repeating: "a", count: 100_000))]
        add("one 100 KB header on an image", "huge.jpg", [.send(ok(jpeg, "image/jpeg", huge)), .keepOpen], [.bytes(jpeg), .error])
        let large = [("X-Large", String(repeating: "b", count: 40_000))]
        add("one 40 KB header on an image", "large.jpg", [.send(ok(jpeg, "image/jpeg", large)), .keepOpen], [.bytes(jpeg), .error])
        add("one 40 KB header on a video", "large.mp4", [.send(ok(video, "video/mp4", large)), .keepOpen], [.bytes(video), .error])

        // CR, LF and NUL inside header values.
        let length = "Content-Length: \(jpeg.count)\r\n"
        let videoLength = "Content-Length: \(video.count)\r\n"
        add("a bare CR inside a value (Set-Cookie behind it)", "cr.jpg",
            [.send(raw("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nX-Note: a\rSet-Cookie: INJECTED=1\r\n\(length)\r\n", jpeg)), .keepOpen],
            [.bytes(jpeg), .error])
        add("a bare LF inside a value (Set-Cookie behind it)", "lf.jpg",
            [.send(raw("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nX-Note: a\nSet-Cookie: INJECTED=1\r\n\(length)\r\n", jpeg)), .keepOpen],
            [.bytes(jpeg), .error])
        add("a bare LF inside a value (X-Accel-Redirect behind it), on a video", "lf.mp4",
            [.send(raw("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nX-Note: a\nX-Accel-Redirect: /INJECTED\r\n\(videoLength)\r\n", video)), .keepOpen],
            [.bytes(video), .error])
        add("a NUL inside values", "nul.jpg",
            [.send(raw("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\u{0}text/html\r\nX-Note: a\u{0}INJECTED\r\n\(length)\r\n", jpeg)), .keepOpen],
            [.bytes(jpeg), .error])
        add("a NUL and a CR inside values on a video", "nul.mp4",
            [.send(raw("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\u{0}INJECTED\r\nX-Note: a\rINJECTED: 1\r\n\(videoLength)\r\n", video)), .keepOpen],
            [.bytes(video), .error])
        add("an obsolete folded line carrying Set-Cookie", "fold.jpg",
            [.send(raw("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nX-Note: a\r\n Set-Cookie: INJECTED=1\r\n\(length)\r\n", jpeg)), .keepOpen],
            [.bytes(jpeg), .error])
        add("a head with bare LF line ends", "bare-lf.jpg",
            [.send(raw("HTTP/1.1 200 OK\nContent-Type: image/jpeg\nContent-Length: \(jpeg.count)\n\n", jpeg)), .keepOpen],
            [.bytes(jpeg), .error])

        // Headers that would steer nginx or leak between clients.
        let steering: [(String, String)] = [
            ("X-Accel-Redirect", "/system/media_attachments/files/000/000/401/original/control.mp4"),
            ("X-Accel-Expires", "999999"), ("X-Accel-Buffering", "no"), ("X-Accel-Limit-Rate", "1"),
            ("X-Accel-Charset", "INJECTED"), ("Set-Cookie", "session=INJECTED; Path=/"), ("Set-Cookie2", "INJECTED=1"),
            ("Status", "500 INJECTED"),
        ]
        add("X-Accel-*, Set-Cookie and Status on an image", "accel.jpg", [.send(ok(jpeg, "image/jpeg", steering)), .keepOpen], [.bytes(jpeg)])
        add("X-Accel-*, Set-Cookie and Status on a video", "accel.mp4", [.send(ok(video, "video/mp4", steering)), .keepOpen], [.bytes(video)])
        add("X-Accel-*, Set-Cookie on an image converted to AVIF", "accel-avif.jpg", accept: "image/avif,image/webp,*/*",
            [.send(ok(jpeg, "image/jpeg", steering)), .keepOpen], [.image(width: 120, height: 80)])

        // Truncated and lying bodies.
        add("Content-Length larger than the bytes sent, then close (image)", "short.jpg",
            [.send(raw("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\nContent-Length: 50000\r\n\r\n", Array(jpeg.prefix(1000)))), .close],
            [.error, .cut])
        add("Content-Length larger than the bytes sent, then close (video)", "short.mp4",
            [.send(raw("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 50000\r\n\r\n", Array(video.prefix(1000)))), .close],
            [.error, .cut])
        add("Content-Length smaller than the body, the rest a forged response in the same write", "long.mp4",
            [.send(raw("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 100\r\n\r\n", Array(video.prefix(100))) + forged), .keepOpen],
            [.bytes(Array(video.prefix(100))), .error])
        add("Content-Length smaller than the body, the rest 0.3 s later", "long-later.mp4",
            [.send(raw("HTTP/1.1 200 OK\r\nContent-Type: video/mp4\r\nContent-Length: 100\r\n\r\n", Array(video.prefix(100)))),
             .pause(0.3), .send(Array(video.dropFirst(100).prefix(500)) + forged), .keepOpen],
            [.bytes(Array(video.prefix(100))), .error], settle: 0.6)
        var giant = jpeg
        if let sof = (0..<(giant.count - 9)).first(where: { giant[$0] == 0xFF && (giant[$0 + 1] == 0xC0 || giant[$0 + 1] == 0xC2) }) {
            giant[sof + 5] = 0xEA; giant[sof + 6] = 0x60; giant[sof + 7] = 0xEA; giant[sof + 8] = 0x60  // 60000 × 60000
        }
        add("a JPEG whose header claims 60000×60000, asked for as AVIF", "giant.jpg", accept: "image/avif,image/webp,*/*",
            [.send(ok(giant)), .keepOpen], [.shortLived(giant), .refused])
        add("a JPEG whose header claims 60000×60000, asked for as it is", "giant-orig.jpg",
            [.send(ok(giant)), .keepOpen], [.bytes(giant), .shortLived(giant), .refused])
        let halfJPEG = Array(jpeg.prefix(jpeg.count / 2))
        add("a truncated JPEG (its length honest), asked for as AVIF", "truncated.jpg", accept: "image/avif,image/webp,*/*",
            [.send(ok(halfJPEG)), .keepOpen], [.shortLived(halfJPEG), .refused])

        // Slow and endless.
        // Pauses under upstream.timeout, and well over upstream.min_speed (8 KB/s) on average: must arrive whole.
        let big = Self.bigJPEG
        add("a body in three pieces 1 s apart (each gap under upstream.timeout)", "slow.jpg",
            [.send(HostileOrigin.head(headers: [("Content-Type", "image/jpeg"), ("Content-Length", "\(big.count)")])),
             .trickle(big, pieceSize: big.count / 3 + 1, interval: 1), .keepOpen],
            [.bytes(big)], within: 20)
        // Never silent for upstream.timeout, but drip-fed: abandoned (or, before upstream.min_speed, whole), in bounded time.
        add("a body drip-fed 100 bytes every 0.3 s", "drip.jpg",
            [.send(HostileOrigin.head(headers: [("Content-Type", "image/jpeg"), ("Content-Length", "\(jpeg.count)")])),
             .trickle(jpeg, pieceSize: 100, interval: 0.3), .keepOpen],
            [.bytes(jpeg), .error, .cut], within: 6 + 5)
        add("an endless body drip-fed 10 bytes every 0.2 s (video)", "drip-endless.mp4",
            [.send(HostileOrigin.head(headers: [("Content-Type", "video/mp4"), ("Connection", "close")]) + Array(video.prefix(100))),
             .endless(Array(video.prefix(10)), interval: 0.2)],
            [.error, .cut], within: 6 + 5)
        add("a head trickled a few bytes at a time", "slow-head.jpg",
            [.trickle(HostileOrigin.head(headers: [("Content-Type", "image/jpeg"), ("Content-Length", "\(jpeg.count)")]), pieceSize: 7, interval: 0.02),
             .send(jpeg), .keepOpen],
            [.bytes(jpeg)], within: 20)
        add("silence after the request", "silent.jpg", [.hold(30)], [.error], within: 2 + 5)
        add("silence after the head", "silent-body.jpg",
            [.send(HostileOrigin.head(headers: [("Content-Type", "image/jpeg"), ("Content-Length", "\(jpeg.count)")])), .hold(30)],
            [.error, .cut], within: 2 + 5)
        add("a stall mid-body (video)", "stall.mp4",
            [.send(HostileOrigin.head(headers: [("Content-Type", "video/mp4"), ("Content-Length", "\(video.count)")]) + Array(video.prefix(3000))),
             .hold(30)],
            [.error, .cut], within: 2 + 5)
        add("an endless chunked image body", "endless.jpg",
            [.send(HostileOrigin.head(headers: [("Content-Type", "image/jpeg"), ("Transfer-Encoding", "chunked")])
                   + HostileOrigin.chunked(Array(jpeg.prefix(600))).dropLast(5)),
             .endless(bytes("400\r\n") + [UInt8](repeating: 0x41, count: 1024) + bytes("\r\n"), interval: 0.05)],
            [.error, .cut], within: 6 + 5)
        add("an endless video body without a length", "endless.mp4",
            [.send(HostileOrigin.head(headers: [("Content-Type", "video/mp4"), ("Connection", "close")]) + Array(video.prefix(2000))),
             .endless(Array(video.prefix(1024)), interval: 0.05)],
            [.error, .cut], within: 6 + 5)

        // Smuggling shapes.
        add("Content-Length and Transfer-Encoding: chunked (image)", "cl-te.jpg",
            [.send(HostileOrigin.head(headers: [("Content-Type", "image/jpeg"), ("Content-Length", "5"), ("Transfer-Encoding", "chunked")])
                   + HostileOrigin.chunked(jpeg, pieceSize: 1000)), .keepOpen],
            [.bytes(jpeg), .error])
        add("Content-Length and Transfer-Encoding: chunked (video)", "cl-te.mp4",
            [.send(HostileOrigin.head(headers: [("Content-Type", "video/mp4"), ("Content-Length", "5"), ("Transfer-Encoding", "chunked")])
                   + HostileOrigin.chunked(video, pieceSize: 1000)), .keepOpen],
            [.bytes(video), .error])
        add("two different Content-Lengths, the body the longer (video)", "two-cl.mp4",
            [.send(HostileOrigin.head(headers: [("Content-Type", "video/mp4"), ("Content-Length", "100"), ("Content-Length", "\(video.count)")])
                   + video), .keepOpen],
            [.error, .cut, .bytes(video)])
        add("two different Content-Lengths, the body the shorter, then a forged response (video)", "two-cl-short.mp4",
            [.send(HostileOrigin.head(headers: [("Content-Type", "video/mp4"), ("Content-Length", "\(video.count)"), ("Content-Length", "100")])
                   + Array(video.prefix(100)) + forged), .keepOpen],
            [.error, .cut, .bytes(Array(video.prefix(100)))])
        add("two different Content-Lengths (image)", "two-cl.jpg",
            [.send(HostileOrigin.head(headers: [("Content-Type", "image/jpeg"), ("Content-Length", "100"), ("Content-Length", "\(jpeg.count)")])
                   + jpeg), .keepOpen],
            [.error, .bytes(jpeg)])
        // Invalid Content-Length values (RFC 9112 §6.3: the framing is invalid, an unrecoverable error).
        let badLengths: [(String, (Int) -> String)] = [
            ("-1", { _ in "-1" }), ("12abc", { _ in "12abc" }), ("0x20", { _ in "0x20" }), ("1e3", { _ in "1e3" }),
            ("+N", { "+\($0)" }), ("N, N+1", { "\($0), \($0 + 1)" }), ("99999999999999999999999", { _ in "99999999999999999999999" }),
        ]
        for (index, (label, value)) in badLengths.enumerated() {
            add("Content-Length: \(label) (image, then close)", "bad-cl-\(index).jpg",
                [.send(HostileOrigin.head(headers: [("Content-Type", "image/jpeg"), ("Content-Length", value(jpeg.count))]) + jpeg), .close],
                [.error, .bytes(jpeg)])
            add("Content-Length: \(label) (video, then close)", "bad-cl-\(index).mp4",
                [.send(HostileOrigin.head(headers: [("Content-Type", "video/mp4"), ("Content-Length", value(video.count))]) + video), .close],
                [.error, .cut, .bytes(video)])
        }
        let chunkedHead = { (type: String) in HostileOrigin.head(headers: [("Content-Type", type), ("Transfer-Encoding", "chunked")]) }
        for (index, size) in ["zz", "-5", "ffffffffffffffffffffff", "10000"].enumerated() {
            add("chunk size \(size) (image, then close)", "bad-chunk-\(index).jpg",
                [.send(chunkedHead("image/jpeg") + bytes("400\r\n") + Array(jpeg.prefix(1024)) + bytes("\r\n\(size)\r\n") + Array(jpeg.dropFirst(1024))), .close],
                [.error, .cut])
            add("chunk size \(size) (video, then close)", "bad-chunk-\(index).mp4",
                [.send(chunkedHead("video/mp4") + bytes("400\r\n") + Array(video.prefix(1024)) + bytes("\r\n\(size)\r\n") + Array(video.dropFirst(1024))), .close],
                [.error, .cut])
        }
        add("chunked without the last chunk, then close (video)", "no-last-chunk.mp4",
            [.send(chunkedHead("video/mp4") + HostileOrigin.chunked(video).dropLast(5)), .close], [.error, .cut])
        add("Transfer-Encoding: identity-ish garbage with a length", "te-garbage.mp4",
            [.send(HostileOrigin.head(headers: [("Content-Type", "video/mp4"), ("Transfer-Encoding", "xchunked"), ("Content-Length", "\(video.count)")]) + video),
             .close],
            [.error, .cut, .bytes(video)])

        // Garbage status lines.
        for (index, line) in ["HTTP/1.1 2000 OK", "HTTP/1.1 abc OK", "FOO 200 OK", "HTTP/1.1 099 Low", "HTTP/1.1 600 High",
                              "HTTP/1.1  200 OK", "\u{1}\u{2}garbage", "HTTP/1.1 20 OK", "http/1.1 200 ok"].enumerated() {
            add("status line \(line.debugDescription)", "status-\(index).jpg",
                [.send(raw("\(line)\r\nContent-Type: image/jpeg\r\nContent-Length: \(jpeg.count)\r\n\r\n", jpeg)), .close],
                [.error, .bytes(jpeg)])
        }
        add("no answer at all (close)", "nothing.jpg", [.close], [.error])
        add("a reset instead of an answer", "reset.jpg", [.reset], [.error])
        add("a head without its blank line, then close", "no-blank.jpg",
            [.send(bytes("HTTP/1.1 200 OK\r\nContent-Type: image/jpeg\r\n")), .close], [.error])

        // Interim responses.
        add("100 Continue and 103 Early Hints (with Set-Cookie) before the answer", "interim.jpg",
            [.send(bytes("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nLink: </x.css>; rel=preload\r\nSet-Cookie: INJECTED=1\r\n\r\n")
                   + ok(jpeg)), .keepOpen],
            [.bytes(jpeg)])
        add("1000 × 102 Processing before the answer", "interim-flood.jpg",
            [.send(Array(repeating: bytes("HTTP/1.1 102 Processing\r\n\r\n"), count: 1000).flatMap { $0 } + ok(jpeg)), .keepOpen],
            [.bytes(jpeg), .error])
        add("a 100 Continue carrying a body (FORGED), then the answer", "interim-body.jpg",
            [.send(bytes("HTTP/1.1 100 Continue\r\nContent-Length: 6\r\n\r\nFORGED") + ok(jpeg)), .keepOpen],
            [.bytes(jpeg), .error])
        add("101 Switching Protocols to a GET", "switch.jpg",
            [.send(bytes("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nFORGED-FRAMES")), .hold(5)],
            [.error], within: 2 + 5 + 5)

        // Bodiless statuses carrying a body.
        add("a 304 to an unconditional GET, carrying a forged body and a long lifetime", "304-body.jpg",
            [.send(bytes("HTTP/1.1 304 Not Modified\r\nCache-Control: public, max-age=999999\r\nContent-Length: \(forged.count)\r\n\r\n") + forged), .keepOpen],
            [.error, .empty(304)])
        add("a 204 carrying a forged body", "204-body.jpg",
            [.send(bytes("HTTP/1.1 204 No Content\r\nContent-Length: \(forged.count)\r\n\r\n") + forged), .keepOpen],
            [.error, .empty(204)])
        add("a 304 with a chunked forged body (video path)", "304-chunked.mp4",
            [.send(bytes("HTTP/1.1 304 Not Modified\r\nTransfer-Encoding: chunked\r\n\r\n") + HostileOrigin.chunked(forged)), .keepOpen],
            [.error, .empty(304)])

        // An answer with no body, followed by junk on the connection.
        add("Content-Length: 0 followed by a forged response in the same write (image)", "empty-junk.jpg",
            [.send(ok([]) + forged), .keepOpen], [.error, .empty(200)])
        add("Content-Length: 0 followed by a forged response 0.3 s later (video)", "empty-junk.mp4",
            [.send(ok([], "video/mp4")), .pause(0.3), .send(forged), .keepOpen], [.error, .empty(200)], settle: 0.6)
        add("a head promising 1000 bytes and none sent, then close", "head-only.jpg",
            [.send(HostileOrigin.head(headers: [("Content-Type", "image/jpeg"), ("Content-Length", "1000")])), .close], [.error, .cut])
        return cases
    }
}

