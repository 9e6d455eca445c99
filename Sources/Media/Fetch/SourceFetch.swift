import Basics
import Coalescing
import Upstream
import System

/// The fetch step: the source cache, then one fetch per source at a time
/// (single flight), then the origin. Whatever the path, one outcome.
struct SourceFetch {
    enum Outcome {
        /// The whole source, held in memory: the answer step makes the reply.
        case whole(SourceResponse)
        /// Streamed to the client as it arrived (not an image, too large):
        /// already answered.
        case streamed
        case failed(any HTTPFailure)
    }

    /// Where the bytes came from, for the log.
    enum Provenance: String {
        case origin
        case sourceCache = "source_cache_hit"
        /// Another request's fetch, shared.
        case coalesced
    }

    /// What the origin did, when this request fetched.
    struct OriginTrace {
        var status: Int?
        var seconds: Double
    }

    struct Report {
        var outcome: Outcome
        var provenance: Provenance
        var origin: OriginTrace?
    }

    let context: WorkerContext
    /// This thread's connection to the origin.
    let origin: any Fetching

    func fetch(_ location: SourceLocation, for request: MediaRequest, writer: ReplyWriter) -> Report {
        guard location.shareable else { return fetchAlone(location, for: request, writer: writer) }
        let key = location.key
        var revalidating: SourceResponse? = nil
        switch context.sources.lookup(key) {
        case .fresh(let cached):
            return Report(outcome: .whole(cached), provenance: .sourceCache)
        case .stale(let cached):
            revalidating = cached
        case .missing:
            break
        }

        // The leader's fetch, shared with every request for this source that
        // arrives meanwhile. Only the leader takes a place among the host's
        // fetches; its waiters share its fate (a refusal too).
        var leaderTrace: OriginTrace? = nil
        // A failure after the leader's own answer started (or its client
        // left) is the leader's alone: its waiters fetch for themselves.
        var leaderOwnFailure: (any HTTPFailure)? = nil
        let upstream = context.configuration.upstream
        let deadline = MonotonicClock.now() + min(max(upstream.transferTimeout, upstream.timeout), 60)
        let shared = context.sources.fetches.run(key, deadline: deadline) { () -> Result<SourceStore.FetchOutcome, any Error> in
            var conditional = location.httpRequest
            if let revalidating {
                if let etag = revalidating.head.value(of: "ETag") { conditional.headers.append(("If-None-Match", etag)) }
                if let modified = revalidating.head.value(of: "Last-Modified") {
                    conditional.headers.append(("If-Modified-Since", modified))
                }
            }
            guard let places = enter(location) else { return .failure(Self.originBusy) }
            defer { leave(places) }
            let (result, trace) = fetchOnce(conditional, from: location.source.kind, for: request, writer: writer, revalidating: revalidating != nil,
                                            holdsEverything: location.holdsEverything,
                                            streamsAudioVideo: location.misskey.map { !$0.transforms } ?? false)
            leaderTrace = trace
            switch result {
            case .held(let source):
                context.sources.store(key, source)
                return .success(.whole(source))
            case .revalidated:
                guard let revalidating else { return .failure(UpstreamError(kind: .protocolError, message: "unasked 304")) }
                context.sources.refresh(key, lifetime: ResponseHeaders.originMaxAge(revalidating.head))
                return .success(.whole(revalidating))
            case .streamed:
                return .success(.streamed)
            case .failed(let failure):
                if writer.headSent || failure.kind == .clientGone {
                    leaderOwnFailure = failure
                    return .success(.streamed)
                }
                return .failure(failure)
            }
        }

        switch shared {
        case .value(.whole(let source), let coalesced):
            if coalesced { context.metrics.coalesced(kind: "fetch") }
            return Report(outcome: .whole(source), provenance: coalesced ? .coalesced : .origin, origin: leaderTrace)
        case .value(.streamed, false):
            return Report(outcome: leaderOwnFailure.map { .failed($0) } ?? .streamed, provenance: .origin, origin: leaderTrace)
        case .value(.streamed, true):
            // The leader streamed its own copy (not an image after all).
            return fetchAlone(location, for: request, writer: writer)
        case .failure(let error, let coalesced):
            if coalesced { context.metrics.coalesced(kind: "fetch") }
            let failure = error as? any HTTPFailure
                ?? UpstreamError(kind: .other, message: "\(error)")
            return Report(outcome: .failed(failure), provenance: coalesced ? .coalesced : .origin, origin: leaderTrace)
        case .timedOut:
            // Never stored: the leader may still be streaming a large file.
            return Report(outcome: .failed(Refusal(status: 504, reason: "coalesced_wait_timeout",
                                                   detail: "gave up waiting for another request's fetch", retryAfter: 1)),
                          provenance: .coalesced)
        }
    }

    /// A fetch of this request's own, within the origin host's cap.
    private func fetchAlone(_ location: SourceLocation, for request: MediaRequest, writer: ReplyWriter) -> Report {
        guard let places = enter(location) else {
            return Report(outcome: .failed(Self.originBusy), provenance: .origin)
        }
        defer { leave(places) }
        let (result, trace) = fetchOnce(location.httpRequest, from: location.source.kind, for: request, writer: writer, revalidating: false,
                                        holdsEverything: location.holdsEverything,
                                            streamsAudioVideo: location.misskey.map { !$0.transforms } ?? false)
        switch result {
        case .held(let source): return Report(outcome: .whole(source), provenance: .origin, origin: trace)
        case .streamed, .revalidated: return Report(outcome: .streamed, provenance: .origin, origin: trace)
        case .failed(let failure): return Report(outcome: .failed(failure), provenance: .origin, origin: trace)
        }
    }

    private enum OnceResult {
        case held(SourceResponse)
        case revalidated
        case streamed
        case failed(UpstreamError)
    }

    /// One origin transfer, through the body state machine.
    private func fetchOnce(_ upstreamRequest: UpstreamRequest, from sourceKind: Source.Kind, for request: MediaRequest, writer: ReplyWriter,
                           revalidating: Bool, holdsEverything: Bool, streamsAudioVideo: Bool = false) -> (OnceResult, OriginTrace) {
        let configuration = context.configuration
        let rules = OriginBody.Rules(
            maxHeldBytes: configuration.image.maxSourceBytes,
            sentConditional: upstreamRequest.headers.contains { $0.name == "If-None-Match" || $0.name == "If-Modified-Since" },
            sentRange: upstreamRequest.headers.contains { $0.name == "Range" },
            range: upstreamRequest.headers.first { $0.name == "Range" }?.value,
            revalidating: revalidating,
            // A HEAD of a preview is answered from the whole source too.
            includeBody: !request.isHead || holdsEverything,
            holdsEverything: holdsEverything,
            streamsAudioVideo: streamsAudioVideo)
        let sink = OriginBodySink(rules: rules, writer: writer) { head in
            PassthroughReply.head(for: head, from: sourceKind, configuration: configuration, lifetimes: request.lifetimes)
        }
        let outcome = origin.fetch(upstreamRequest, into: sink)
        let error = sink.refusal ?? (sink.stoppedEarly ? nil : outcome.error)
        context.metrics.upstreamFinished(seconds: outcome.seconds, bodyBytes: outcome.bodyBytes,
                                         newConnection: !outcome.reusedConnection, errorKind: error?.kind)
        let trace = OriginTrace(status: outcome.status, seconds: outcome.seconds)
        if let error { return (.failed(error), trace) }
        switch sink.finish() {
        case .held(let source): return (.held(source), trace)
        case .revalidated: return (.revalidated, trace)
        case .streamed: return (.streamed, trace)
        }
    }

    /// A place among the fetches to the source's host, and for a remote
    /// among all remote fetches too: a remote is anyone's server, and one
    /// name per fetch (wildcard subdomains) must not take every thread.
    private func enter(_ location: SourceLocation) -> (host: OriginHostLimiter.Key, remote: OriginHostLimiter.Key?)? {
        guard let host = context.originHosts.enter(key: .host(of: location.httpRequest.url)) else { return nil }
        guard case .remote = location.source else { return (host, nil) }
        guard let remote = context.remoteFetches.enter(key: .allRemoteHosts) else {
            context.originHosts.leave(key: host)
            return nil
        }
        return (host, remote)
    }

    private func leave(_ places: (host: OriginHostLimiter.Key, remote: OriginHostLimiter.Key?)) {
        context.originHosts.leave(key: places.host)
        if let remote = places.remote { context.remoteFetches.leave(key: remote) }
    }

    /// The origin host has no room for another fetch (OriginHostLimiter):
    /// answered at once, never stored (the next request may find room).
    static let originBusy = Refusal(status: 503, reason: "origin_busy",
                                    detail: "too many fetches in flight to a stalled origin host", retryAfter: 1)
}
