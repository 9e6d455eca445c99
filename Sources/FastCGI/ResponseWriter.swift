/// The request side of an exchange: the params nginx sent.
public protocol RequestParams: AnyObject {
    /// A FastCGI parameter as nginx sent it (`REQUEST_URI`, `HTTP_ACCEPT`, …).
    func param(_ name: String) -> String?
}

/// The response side of an exchange, as the media path sees it. The FastCGI
/// exchange adopts it; the unit tests use a recording writer
/// (Tests/HerdTests/Recording/) to run the media path without nginx.
///
/// Nothing in herd calls it but `ReplyWriter`, the one writer of every answer.
public protocol ResponseWriter: AnyObject {
    /// Writes the status and headers, once.
    func writeHead(status: Int, headers: [(name: String, value: String)])
    /// Writes body bytes after the head; false once the peer is gone.
    func write(_ bytes: UnsafeRawBufferPointer) -> Bool
    /// Ends the response without its end marker, so nginx sees it as cut
    /// short and neither completes nor stores it.
    func abort()
    var headSent: Bool { get }
    var peerGone: Bool { get }
    var bodyBytesWritten: Int { get }
}
