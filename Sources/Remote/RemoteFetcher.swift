import Basics
import System
import Upstream

/// Fetches a remote URL from the open internet, for the signed-URL
/// sources (`SignedRemoteSource`, `CamoSource`). Wraps this thread's
/// guarded `UpstreamClient` (its address guard judges every address at
/// connect time) and adds what a remote needs and the origin does not:
///
/// - redirects followed here, not by libcurl, at most `remote.max_redirects`,
///   each hop checked like the first URL (http/https only, no credentials,
///   no localhost, no blocked domain) before any connection;
/// - the remote's head reduced to what a client may see (`RemoteHead`);
/// - failures remembered for `remote.failure_ttl` (`RemoteFailureMemory`),
///   so a dead remote is not asked again by every request for it.
public final class RemoteFetcher: Fetching {
    private let client: any Fetching
    private let policy: RemotePolicy

    public init(client: any Fetching, policy: RemotePolicy) {
        self.client = client
        self.policy = policy
    }

    public func fetch(_ request: UpstreamRequest, into sink: UpstreamResponseSink) -> UpstreamOutcome {
        let started = MonotonicClock.now()
        if let remembered = policy.failures.recent(request.url) {
            policy.metrics.remoteRefused(reason: "failed_recently")
            return Self.failed(UpstreamError(kind: remembered.kind, message: remembered.message
                                                 + " (remembered: not fetched again within \(Int(policy.failures.ttl)) s)"),
                               started: started)
        }
        let outcome = follow(request, into: sink, started: started)
        policy.metrics.remoteFetched(outcome: outcome.error?.kind.rawValue ?? outcome.status.map { "status_\($0 / 100)xx" } ?? "none")
        if let failure = outcome.error, Self.isRemembered(outcome) {
            policy.failures.remember(request.url, failure: failure)
        }
        return outcome
    }

    private func follow(_ request: UpstreamRequest, into sink: UpstreamResponseSink, started: Double) -> UpstreamOutcome {
        var url = request.url
        var bodyBytes = 0
        for hop in 0...policy.maxRedirects {
            // nginx gives a worker 60 s of silence (fastcgi_read_timeout):
            // a chain of slow redirects must end well before that.
            if hop > 0, MonotonicClock.now() - started > Self.redirectChainBudget {
                return Self.failed(UpstreamError(kind: .timeout, message: "redirects took over \(Int(Self.redirectChainBudget)) s"),
                                   started: started)
            }
            guard let remote = RemoteURL(url) else {
                return refused(.refusedURL, "redirect to '\(url.prefix(200))': not an http or https URL herd may fetch", started: started)
            }
            if let domain = policy.blockedDomain(of: remote.host) {
                return refused(.refusedURL, "\(remote.host) is under the blocked domain \(domain)", started: started)
            }
            let interceptor = RedirectInterceptor(sink: sink, url: remote, cacheTTL: policy.cacheTTL)
            var outcome = client.fetch(UpstreamRequest(url: remote.absolute, headers: request.headers), into: interceptor)
            bodyBytes += outcome.bodyBytes
            if let address = outcome.refusedAddress {
                let addressClass = RemoteClient.addressClass(address)
                policy.metrics.remoteRefused(reason: "refused_address", addressClass: addressClass)
                outcome.error = UpstreamError(kind: .refusedAddress,
                                              message: "\(remote.host) is \(address) (\(addressClass)): the address guard refuses it; no connection was opened")
            }
            if let status = interceptor.refusedStatus {
                outcome.error = UpstreamError(kind: status == 404 || status == 410 ? .remoteNotFound : .remoteError,
                                              message: "the remote answered \(status)")
            }
            guard let location = interceptor.location else {
                outcome.bodyBytes = bodyBytes
                outcome.seconds = MonotonicClock.now() - started
                return outcome
            }
            guard hop < policy.maxRedirects else { break }
            url = RemoteURL.resolve(location, against: remote)
        }
        return refused(.tooManyRedirects, "more than \(policy.maxRedirects) redirects", started: started)
    }

    static let redirectChainBudget = 30.0

    private func refused(_ kind: UpstreamError.Kind, _ message: String, started: Double) -> UpstreamOutcome {
        policy.metrics.remoteRefused(reason: kind.rawValue)
        return Self.failed(UpstreamError(kind: kind, message: message), started: started)
    }

    private static func failed(_ error: UpstreamError, started: Double) -> UpstreamOutcome {
        UpstreamOutcome(status: nil, error: error, bodyBytes: 0, seconds: MonotonicClock.now() - started, reusedConnection: false)
    }

    /// What is worth remembering: the remote did not answer, answered with
    /// a server error, sent more than `remote.max_body_size`, or is
    /// somewhere herd will not go. Not a client that left (a preview that
    /// stopped reading a source too large to hold looks the same), nor a 404.
    private static func isRemembered(_ outcome: UpstreamOutcome) -> Bool {
        guard let error = outcome.error else { return false }
        switch error.kind {
        case .clientGone, .remoteNotFound: return false
        case .remoteError: return (outcome.status ?? 0) >= 500
        default: return true
        }
    }
}

/// Stops at a redirect (remembering where it points) or at an error (its
/// status: herd answers with its own error, never the remote's page), and
/// hands a 2xx or 304 on, its head reduced to what a client may see.
private final class RedirectInterceptor: UpstreamResponseSink {
    private let sink: UpstreamResponseSink
    private let url: RemoteURL
    private let cacheTTL: Int
    private(set) var location: String?
    private(set) var refusedStatus: Int?

    init(sink: UpstreamResponseSink, url: RemoteURL, cacheTTL: Int) {
        self.sink = sink
        self.url = url
        self.cacheTTL = cacheTTL
    }

    func receiveHead(_ head: UpstreamResponseHead) -> Bool {
        if [301, 302, 303, 307, 308].contains(head.status), let target = head.value(of: "Location"), !target.isEmpty {
            location = PercentEncoding.encodingNonASCII(target)
            return false
        }
        guard (200...299).contains(head.status) || head.status == 304 else {
            refusedStatus = head.status
            return false
        }
        return sink.receiveHead(RemoteHead.sanitised(head, url: url, cacheTTL: cacheTTL))
    }

    func receiveBody(_ chunk: UnsafeRawBufferPointer) -> Bool {
        sink.receiveBody(chunk)
    }
}

/// What a remote fetch reports (the worker's metrics implement it).
public protocol RemoteMetrics: Sendable {
    /// A fetch went out; `outcome` is an error kind or `status_Nxx`.
    func remoteFetched(outcome: String)
    /// A fetch was refused before or at connect time.
    func remoteRefused(reason: String, addressClass: String)
}

extension RemoteMetrics {
    public func remoteRefused(reason: String) { remoteRefused(reason: reason, addressClass: "") }
}

/// What every thread's `RemoteFetcher` shares.
public struct RemotePolicy: Sendable {
    let maxRedirects: Int
    let blockedDomains: [String]
    let cacheTTL: Int
    public let failures: RemoteFailureMemory
    let metrics: any RemoteMetrics

    /// `remote.max_redirects`, `remote.blocked_domains` (a name under one
    /// is refused too), `remote.cache_ttl`, `remote.failure_ttl`.
    public init(maxRedirects: Int, blockedDomains: [String], cacheTTL: Int, failureTTL: Int, metrics: any RemoteMetrics) {
        self.maxRedirects = maxRedirects
        self.blockedDomains = blockedDomains.map { $0.lowercased() }
        self.cacheTTL = cacheTTL
        self.failures = RemoteFailureMemory(ttl: Double(failureTTL))
        self.metrics = metrics
    }

    /// The blocked domain `host` is, or lies under.
    public func blockedDomain(of host: String) -> String? {
        var name = host.lowercased()
        if name.hasSuffix(".") { name.removeLast() }
        return blockedDomains.first { name == $0 || name.hasSuffix("." + $0) }
    }
}

extension UpstreamError.Kind {
    /// A remote URL herd will not fetch: a redirect to another scheme,
    /// credentials, localhost, a blocked domain.
    public static let refusedURL = UpstreamError.Kind("refused_url", status: 403)
    /// More redirects than `remote.max_redirects`.
    public static let tooManyRedirects = UpstreamError.Kind("too_many_redirects", status: 502)
    /// The remote answered 404 or 410 (its page is not passed on).
    public static let remoteNotFound = UpstreamError.Kind("remote_not_found", status: 404)
    /// The remote answered another error, or a 3xx without a Location.
    public static let remoteError = UpstreamError.Kind("remote_error", status: 502)
    /// The remote fetcher's kinds, beside the transport's.
    public static let remote: [UpstreamError.Kind] = [.refusedURL, .tooManyRedirects, .remoteNotFound, .remoteError]
}
