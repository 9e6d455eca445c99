import FastCGI
import Upstream

/// Streams one media response from the origin to nginx as it arrives: the
/// head once the origin's head is complete, then every body chunk as
/// libcurl hands it over, so memory stays flat whatever the file size.
final class MediaProxy: UpstreamResponseSink {
    private let exchange: FastCGIExchange
    private let configuration: HerdConfiguration
    private let includeBody: Bool
    private(set) var originStatus: Int?
    private(set) var sentStatus: Int?

    init(exchange: FastCGIExchange, configuration: HerdConfiguration, includeBody: Bool) {
        self.exchange = exchange
        self.configuration = configuration
        self.includeBody = includeBody
    }

    /// Builds the origin request for a validated target.
    static func originRequest(for target: RequestTarget, method: UpstreamRequest.Method, exchange: FastCGIExchange,
                              configuration: HerdConfiguration) -> UpstreamRequest {
        var base = configuration.upstream.url
        while base.hasSuffix("/") { base.removeLast() }
        var headers: [(name: String, value: String)] = []
        for (param, name) in HeaderPolicy.forwardedToOrigin {
            if let value = exchange.param(param), FastCGIExchange.isSafeHeaderValue(value) {
                headers.append((name, value))
            }
        }
        return UpstreamRequest(url: base + target.forwardable, method: method, headers: headers)
    }

    // MARK: UpstreamResponseSink

    func receiveHead(_ head: UpstreamResponseHead) -> Bool {
        originStatus = head.status
        var headers = HeaderPolicy.responseHeaders(from: head.headers, preserveAll: configuration.server.preserveUpstreamHeaders)
        applyCachePolicy(status: head.status, headers: &headers)
        appendVia(to: &headers)
        headers.append(("X-Herd-Source", "origin"))
        // The body passes through unchanged, so the origin's length holds
        // (for HEAD too: it describes what GET would return).
        if let length = head.contentLength { headers.append(("Content-Length", String(length))) }
        sentStatus = head.status
        exchange.writeHead(status: head.status, headers: headers)
        return !exchange.peerGone
    }

    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        guard includeBody else { return true }
        return exchange.write(chunk)
    }

    // MARK: Headers

    /// Errors never get a long lifetime, whatever the origin said; a success
    /// without caching headers gets `cache.ttl`.
    private func applyCachePolicy(status: Int, headers: inout [(name: String, value: String)]) {
        let hasLifetime = headers.contains { ["cache-control", "expires"].contains($0.name.lowercased()) }
        if status >= 400 {
            headers.removeAll { ["cache-control", "expires"].contains($0.name.lowercased()) }
            headers.append(("Cache-Control", ResponseHeaders.errorCacheControl(ttl: configuration.cache.errorTTL)))
        } else if !hasLifetime, status != 304 {
            headers.append(("Cache-Control", "public, max-age=\(configuration.cache.ttl)"))
        }
    }

    private func appendVia(to headers: inout [(name: String, value: String)]) {
        guard !configuration.server.viaHeader.isEmpty else { return }
        let ours = "1.1 \(configuration.server.viaHeader)"
        if let index = headers.firstIndex(where: { $0.name.lowercased() == "via" }) {
            headers[index].value += ", " + ours
        } else {
            headers.append(("Via", ours))
        }
    }
}

/// Headers of responses herd makes up itself.
enum ResponseHeaders {
    static func errorCacheControl(ttl: Int) -> String {
        ttl > 0 ? "public, max-age=\(ttl)" : "no-store"
    }
}
