import Basics
import FastCGI

/// A `ResponseWriter` that keeps what was written, for running the media
/// path without nginx. `peerGoneAfter` makes the client leave once that
/// many body bytes were written.
final class RecordingWriter: ResponseWriter {
    private(set) var status: Int?
    private(set) var headers: HTTPHeaders = []
    private(set) var body: [UInt8] = []
    private(set) var aborted = false
    private(set) var headSent = false
    private(set) var peerGone = false
    private(set) var bodyBytesWritten = 0
    var peerGoneAfter: Int?

    func writeHead(status: Int, headers: [(name: String, value: String)]) {
        precondition(!headSent, "head written twice")
        headSent = true
        self.status = status
        self.headers = headers
    }

    func write(_ bytes: UnsafeRawBufferPointer) -> Bool {
        precondition(headSent, "body before head")
        guard !peerGone else { return false }
        if let limit = peerGoneAfter, bodyBytesWritten + bytes.count > limit {
            peerGone = true
            return false
        }
        body.append(contentsOf: bytes)
        bodyBytesWritten += bytes.count
        return true
    }

    func abort() { aborted = true }

    /// Every value of a header, matched case-insensitively.
    func values(_ name: String) -> [String] {
        headers.filter { $0.name.caseInsensitiveEquals(name) }.map(\.value)
    }

    func header(_ name: String) -> String? { values(name).first }
}

/// FastCGI params as nginx would send them.
final class RecordedParams: RequestParams {
    private let values: [String: String]

    init(_ values: [String: String]) { self.values = values }

    /// A request for `uri` with `method` and the other params given.
    convenience init(_ method: String = "GET", _ uri: String, _ more: [String: String] = [:]) {
        self.init(["REQUEST_METHOD": method, "REQUEST_URI": uri].merging(more) { $1 })
    }

    func param(_ name: String) -> String? { values[name] }
}
