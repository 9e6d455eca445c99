import Basics
import Upstream

/// A media request from top to bottom: locate the source, fetch it once,
/// answer, write once. Each step is a value in and a value out; the
/// `ReplyWriter` is the only thing that writes.
struct MediaPath {
    let context: WorkerContext
    /// This thread's connection to the origin.
    let origin: any Fetching
    /// This thread's guarded fetcher of remote URLs.
    let remote: any Fetching

    /// What the request did besides its reply, for its log line.
    struct Trace {
        var provenance: SourceFetch.Provenance?
        var origin: SourceFetch.OriginTrace?
    }

    func serve(_ request: MediaRequest, writer: ReplyWriter) -> Trace {
        let location: SourceLocation
        do {
            guard let found = try locate(request) else {
                writer.send(.failure(Refusal(status: 404, reason: "not_a_media_route")))
                return Trace()
            }
            location = found
        } catch {
            if request.route == .akkomaProxy || request.route == .camo || request.route == .misskeyProxy {
                // A remote URL that failed its checks: nothing was fetched.
                context.metrics.remoteRefused(reason: error.reason)
            }
            if request.route == .misskeyProxy, context.configuration.misskey.enabled {
                // The placeholder for `fallback`, unless there was no URL at all.
                let asked = MisskeyRequest.parse(query: request.target.query)
                let misskey = asked.url.map { MisskeyRequest(url: $0, presets: asked.presets, fallback: asked.fallback) }
                writer.send(MisskeyAnswer.failed(error, misskey: misskey, configuration: context.configuration))
                return Trace()
            }
            writer.send(.failure(error))
            return Trace()
        }

        let fetcher: any Fetching
        switch location.source {
        case .disk(let path):
            writer.send(DiskAnswer(context: context).reply(to: request, path: path, location: location))
            return Trace()
        case .remote: fetcher = remote
        case .origin: fetcher = origin
        }
        let report = SourceFetch(context: context, origin: fetcher).fetch(location, for: request, writer: writer)
        switch report.outcome {
        case .whole(var source):
            source.provenance = location.source.kind
            if let misskey = location.misskey {
                writer.send(MisskeyAnswer(context: context).reply(to: request, misskey: misskey, from: source, sourceKey: location.key))
            } else if let preview = location.preview {
                writer.send(PreviewAnswer(context: context).reply(to: request, preview: preview, from: source, sourceKey: location.key))
            } else {
                let lifetime = request.lifetimes.success ?? (location.source.kind == .remote ? context.configuration.remote.cacheTTL : nil)
                writer.send(ImageAnswer(context: context, lifetime: lifetime).reply(to: request, from: source, sourceKey: location.key))
            }
        case .streamed:
            break
        case .failed(let failure):
            if let misskey = location.misskey {
                writer.send(MisskeyAnswer.failed(failure, misskey: misskey, configuration: context.configuration))
            } else if let preview = location.preview, (failure as? UpstreamError)?.kind == .bodyTooLarge {
                // Too large to preview: the original, as Akkoma does.
                writer.send(PreviewAnswer.redirect(to: preview.originalPath, reason: "too_large", configuration: context.configuration,
                                                   cacheControl: "public, max-age=\(context.configuration.remote.cacheTTL)"))
            } else {
                writer.fail(failure)
            }
        }
        return Trace(provenance: report.provenance, origin: report.origin)
    }

    /// `herd purge`: forgets the request's source (the in-memory copy, a
    /// remembered remote failure), so the next request fetches it again.
    /// The source's key, or nil when no source claims the request.
    func forget(_ request: MediaRequest) -> (key: String, held: Bool)? {
        guard let location = try? locate(request) else { return nil }
        let held = context.sources.remove(location.key)
        // Its optimized answers too: every variant, from the store on disk.
        context.optimizer?.forget(source: location.key)
        if case .remote(let remote) = location.source { context.remote.failures.forget(remote.url) }
        return (location.key, held)
    }

    /// The first locator that claims the request.
    private func locate(_ request: MediaRequest) throws(Refusal) -> SourceLocation? {
        for locator in context.locators {
            if let location = try locator.locate(request) { return location }
        }
        return nil
    }
}
