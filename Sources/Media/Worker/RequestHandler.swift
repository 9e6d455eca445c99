import Remote
import Basics
import FastCGI
import Logging
import Upstream
import System

/// Answers the requests of one accept thread: validates the URI, routes
/// it, and hands media requests to the media path with this thread's
/// connection to the origin.
public final class RequestHandler: FastCGIResponder {
    let context: WorkerContext
    private let media: MediaPath

    /// `origin` fetches from the configured origin; `remote` from remote
    /// URLs, behind the address guard (nil: signed URLs fetch through
    /// `origin` wrapped in a `RemoteFetcher`, as the unit tests do).
    public init(context: WorkerContext, origin: any Fetching, remote: (any Fetching)? = nil) {
        self.context = context
        self.media = MediaPath(context: context, origin: origin,
                               remote: RemoteFetcher(client: remote ?? origin, policy: context.remote))
    }

    public func respond(to exchange: FastCGIExchange) {
        handle(params: exchange, output: exchange)
    }

    /// One request, from its params to its log line. The unit tests call
    /// this with recorded params and a recording writer.
    public func handle(params: some RequestParams, output: some ResponseWriter) {
        let started = MonotonicClock.now()
        let configuration = context.configuration
        let method = params.param(FastCGIParam.method) ?? "GET"
        let uri = params.param(FastCGIParam.uri) ?? ""
        let writer = ReplyWriter(output: output, configuration: configuration, isHead: method == "HEAD")
        var route = "-"
        var variant: String?
        var trace = MediaPath.Trace()
        context.metrics.requestStarted()
        defer {
            // Every request gets an answer, whatever a step forgot.
            if writer.status == nil, !writer.headSent {
                writer.send(.failure(Refusal(status: 502, reason: "no_answer", detail: "the source gave nothing to answer with")))
            }
            let record = RequestRecord(method: method, route: route, variant: variant, writer: writer, trace: trace,
                                       seconds: MonotonicClock.now() - started)
            context.metrics.requestFinished(route: record.route, status: record.status, bytesSent: record.bytesSent)
            var logger = context.logger
            logger[metadataKey: "request.id"] = .string(Self.requestID(from: params))
            record.log(to: logger, uri: uri)
        }

        let target: RequestTarget
        do {
            target = try RequestTarget(validating: uri, maxLength: configuration.server.maxURILength)
        } catch {
            route = "rejected"
            writer.send(.failure(error))
            return
        }

        let routed = Router.route(path: target.path, prefixes: configuration.routes.prefixes)
        route = routed.label
        switch routed {
        case .health:
            writer.send(.text("OK\n", via: configuration))
        case .metrics:
            writer.send(.text(String(decoding: context.metrics.exposition(), as: UTF8.self),
                              contentType: "text/plain; version=0.0.4; charset=utf-8", via: configuration))
        case .notFound:
            writer.send(.failure(Refusal(status: 404, reason: "not_a_media_route")))
        case .media(let mediaRoute):
            writer.onMediaRoute = true
            let request: MediaRequest
            do {
                request = try MediaRequest(target: target, route: mediaRoute, params: params, configuration: configuration)
            } catch {
                writer.send(.failure(error))
                return
            }
            variant = request.variant.rawValue
            if params.param(FastCGIParam.purge) == "1" {
                route = "purge"
                let forgotten = media.forget(request)
                let line = forgotten.map { "\($0.held ? "forgot" : "not held"): \($0.key)\n" } ?? "no source\n"
                writer.send(.text(line, via: configuration))
                return
            }
            trace = media.serve(request, writer: writer)
        }
    }

    /// nginx's `$request_id` when the shipped snippet passes it, so the
    /// worker's log line and nginx's access log share an id; else our own.
    private static func requestID(from params: some RequestParams) -> String {
        if let id = params.param(FastCGIParam.requestID),
           (1...64).contains(id.utf8.count),
           id.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7a) || $0 == 0x2d }) {
            return id
        }
        var generator = SystemRandomNumberGenerator()
        return SourceHash.hex(generator.next() as UInt64)
    }
}
