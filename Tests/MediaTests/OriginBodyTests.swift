import HerdTestSupport
import Testing
import Upstream
import Herd
@testable import Media
import Settings

/// The origin body state machine, event by event: no sockets, no writer.
@Suite("Origin body state machine")
struct OriginBodyTests {
    static let png = TestImages.png(TestImages.quadrants(), kind: .rgb)
    static let text = Array(("<html>an error page from the origin, long enough to sniff: "
        + String(repeating: "and then some more text, ", count: 8) + "</html>").utf8)

    /// The chunk (of `pieces` bytes each) after which the sniffer has
    /// OriginBody.sniffLength bytes, and what it holds by then.
    static func decidingChunk(pieces: Int) -> (index: Int, held: [UInt8]) {
        let index = (OriginBody.sniffLength + pieces - 1) / pieces - 1
        return (index, Array(text[0..<((index + 1) * pieces)]))
    }

    static func rules(maxHeld: Int = 1 << 20, conditional: Bool = false, range: Bool = false,
                      revalidating: Bool = false, includeBody: Bool = true) -> OriginBody.Rules {
        .init(maxHeldBytes: maxHeld, sentConditional: conditional, sentRange: range,
              revalidating: revalidating, includeBody: includeBody)
    }

    static func head(_ status: Int, length: Int? = nil) -> UpstreamResponseHead {
        UpstreamResponseHead(status: status, headers: length.map { [("Content-Length", String($0))] } ?? [])
    }

    static func feed(_ machine: inout OriginBody, _ bytes: [UInt8], pieces: Int) -> [OriginBody.BodyAction] {
        var actions: [OriginBody.BodyAction] = []
        var start = 0
        while start < bytes.count {
            let end = min(start + pieces, bytes.count)
            actions.append(bytes[start..<end].withUnsafeBytes { machine.receiveBody($0) })
            start = end
        }
        return actions
    }

    @Test("an image within the cap is held whole, however it is cut")
    func holdsImage() {
        for pieces in [1, 7, 16, 4096] {
            var machine = OriginBody(rules: Self.rules())
            #expect(machine.receiveHead(Self.head(200, length: Self.png.count)) == .hold)
            #expect(Self.feed(&machine, Self.png, pieces: pieces).allSatisfy { $0 == .held })
            #expect(machine.finish() == .held(Self.png))
        }
    }

    @Test("what is not an image streams once the sniffer's bytes show it, with everything held so far")
    func streamsOther() {
        var machine = OriginBody(rules: Self.rules())
        #expect(machine.receiveHead(Self.head(200)) == .hold)
        let actions = Self.feed(&machine, Self.text, pieces: 10)
        let deciding = Self.decidingChunk(pieces: 10)
        #expect(actions[..<deciding.index].allSatisfy { $0 == .held })
        #expect(actions[deciding.index] == .stream(buffered: deciding.held, thenStop: false))
        #expect(actions.dropFirst(deciding.index + 1).allSatisfy { $0 == .forward })
        #expect(machine.finish() == .streamed)
    }

    @Test("an ISOBMFF image with a generic brand (mif1) is held however small the first chunks: its brands come after byte 16")
    func genericBrandHeld() {
        // ftyp mif1 with avif among the compatible brands, then an mdat.
        let brands = Array("mif1".utf8) + [0, 0, 0, 0] + Array("mif1miafMA1Bavif".utf8)
        let ftyp = [0, 0, 0, UInt8(8 + brands.count)] + Array("ftyp".utf8) + brands
        let file = ftyp + [0, 0, 0, 208] + Array("mdat".utf8) + [UInt8](repeating: 7, count: 200)
        for pieces in [1, 12, 16, 23] {
            var machine = OriginBody(rules: Self.rules())
            #expect(machine.receiveHead(Self.head(200, length: file.count)) == .hold)
            #expect(Self.feed(&machine, file, pieces: pieces).allSatisfy { $0 == .held }, "pieces of \(pieces)")
            #expect(machine.finish() == .held(file))
        }
    }

    @Test("a body shorter than the sniffer's bytes is held and answered from memory")
    func shortBody() {
        var machine = OriginBody(rules: Self.rules())
        _ = machine.receiveHead(Self.head(200, length: 5))
        #expect(Self.feed(&machine, Array("hello".utf8), pieces: 5) == [.held])
        #expect(machine.finish() == .held(Array("hello".utf8)))
    }

    @Test("over the cap: streamed at once when the length says so, else when the held bytes pass it")
    func overCap() {
        var declared = OriginBody(rules: Self.rules(maxHeld: 100))
        #expect(declared.receiveHead(Self.head(200, length: 101)) == .stream(thenStop: false))
        var undeclared = OriginBody(rules: Self.rules(maxHeld: 100))
        #expect(undeclared.receiveHead(Self.head(200)) == .hold)
        let actions = Self.feed(&undeclared, Self.png, pieces: 64)
        #expect(actions[0] == .held)
        #expect(actions[1] == .stream(buffered: Array(Self.png[0..<128]), thenStop: false))
    }

    @Test("answers to questions herd did not ask are refused; asked ones pass")
    func unasked() {
        for status in [304, 206, 204, 201, 202, 205, 226] {
            var machine = OriginBody(rules: Self.rules())
            guard case .refuse = machine.receiveHead(Self.head(status)) else {
                Issue.record("\(status) not refused")
                continue
            }
        }
        var ranged = OriginBody(rules: Self.rules(range: true))
        #expect(ranged.receiveHead(Self.head(206)) == .stream(thenStop: false))
        var conditional = OriginBody(rules: Self.rules(conditional: true))
        #expect(conditional.receiveHead(Self.head(304)) == .stream(thenStop: false))
        for status in [404, 500, 302, 203] {
            var machine = OriginBody(rules: Self.rules())
            #expect(machine.receiveHead(Self.head(status)) == .stream(thenStop: false))
        }
    }

    @Test("a revalidation confirmed by 304: nothing more is read")
    func revalidated() {
        var machine = OriginBody(rules: Self.rules(conditional: true, revalidating: true))
        #expect(machine.receiveHead(Self.head(304)) == .revalidated)
        #expect(Self.feed(&machine, [1, 2, 3], pieces: 3) == [.stop])
        #expect(machine.finish() == .revalidated)
    }

    @Test("HEAD: a streamed answer stops after its head")
    func head() {
        var early = OriginBody(rules: Self.rules(includeBody: false))
        #expect(early.receiveHead(Self.head(404)) == .stream(thenStop: true))
        #expect(early.finish() == .streamed)
        var late = OriginBody(rules: Self.rules(includeBody: false))
        _ = late.receiveHead(Self.head(200))
        let actions = Self.feed(&late, Self.text, pieces: 20)
        let deciding = Self.decidingChunk(pieces: 20)
        #expect(actions[deciding.index] == .stream(buffered: deciding.held, thenStop: true))
        #expect(actions.count > deciding.index + 2 && actions.dropFirst(deciding.index + 1).allSatisfy { $0 == .stop })
    }
}
