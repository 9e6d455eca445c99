import Basics
import Imaging
import System
import Upstream
import Settings

/// A media request for a file below `upstream.root`. What nginx can send
/// itself goes back to it as `X-Accel-Redirect` to its internal location
/// (install/disk-files.conf, an alias of the same root): sendfile, ranges,
/// conditionals, no copy through the worker. That is everything that is
/// not an image herd converts for this variant — videos, audio, originals —
/// and images over `image.max_source_bytes`. Images to convert are read
/// whole and answered like the origin's (`ImageAnswer`), with an ETag and
/// Last-Modified from the file, the original itself too when the
/// conversion is not smaller (nginx stores that answer under the variant's
/// key, and only a body can later replace it).
struct DiskAnswer {
    let context: WorkerContext
    /// nginx's internal location that aliases the root.
    static let internalPrefix = "/_herd_files"

    func reply(to request: MediaRequest, path: String, location: SourceLocation) -> Reply {
        guard let root = context.disk else { return .failure(Refusal(status: 500, reason: "disk_not_configured")) }
        let file: DiskRoot.File
        do {
            file = try root.open(path)
        } catch .outsideRoot {
            return Self.missing(request, reason: "outside_root", detail: "\(path) leads outside \(root.path)")
        } catch let error where error.meansNotFound {
            return Self.missing(request, reason: "not_found", detail: nil)
        } catch {
            return .failure(Refusal(status: 500, reason: "disk_error", detail: "\(path): \(error)"))
        }
        defer { file.close() }

        let start = file.read(ImageFormat.sniffLength) ?? []
        let format = ImageFormat.sniff(start)
        let variant = request.variant
        let converts = format.map { ImageConversion.mayConvert($0, for: variant) } ?? false
        let maxBytes = context.configuration.image.maxSourceBytes
        if !converts || file.size > maxBytes {
            // A HEIC goes to no browser as it is.
            if format == .heif { return .failure(Refusal(status: 415, reason: "too_large")) }
            return Self.fromDisk(path, format: format, request: request, configuration: context.configuration)
        }
        guard let body = file.read(file.size), body.count == file.size else {
            return .failure(Refusal(status: 500, reason: "disk_error", detail: "\(path): short read"))
        }
        let head = UpstreamResponseHead(status: 200, headers: [
            ("Content-Type", format?.mimeType ?? "application/octet-stream"),
            ("Content-Length", String(body.count)),
            ("ETag", file.etag),
            ("Last-Modified", HTTPDate.imfFixdate(secondsSinceEpoch: file.modified.tv_sec)),
        ])
        let source = SourceResponse(head: head, body: body, provenance: .disk)
        // Whatever this answers under a converted variant's key is a body
        // nginx may store (the original too, when the conversion is not
        // smaller): a later refresh must be able to replace it, and an
        // X-Accel-Redirect answer never replaces a cache entry.
        return ImageAnswer(context: context, lifetime: request.lifetimes.success)
            .reply(to: request, from: source, sourceKey: location.key + " " + file.etag)
    }

    /// No file to serve. For the original's key (never stored: its answers
    /// are X-Accel-Redirects, which nginx cannot store, so a stored 404
    /// could never be replaced once the file appears) the 404 is not
    /// stored; under a converted variant's key it is, briefly, so that it
    /// replaces a conversion of a file since deleted.
    static func missing(_ request: MediaRequest, reason: String, detail: String?) -> Reply {
        // Under a converted variant's key, the location's 404 lifetime.
        let lifetime: HTTPHeaders = request.lifetimes.notFound.map { [("Cache-Control", ResponseHeaders.errorCacheControl(ttl: $0))] } ?? []
        return .failure(Refusal(status: 404, reason: reason, detail: detail,
                                headers: request.variant == .orig ? [("X-Accel-Expires", "0")] : lifetime))
    }

    /// The file, sent by nginx: its internal location serves it with its
    /// own ETag, Last-Modified, ranges and conditionals.
    static func fromDisk(_ path: String, format: ImageFormat?, request: MediaRequest, configuration: HerdConfiguration) -> Reply {
        var headers: HTTPHeaders = [
            ("Cache-Control", "public, max-age=\(request.lifetimes.success ?? configuration.cache.ttl)"),
            ("X-Herd-Variant", "orig"),
            ("X-Herd-Source", "disk"),
        ]
        // nginx keeps the Content-Type of an X-Accel-Redirect answer: the
        // sniffed type of an image; otherwise nginx's by extension.
        if let format { headers.append(("Content-Type", format.mimeType)) }
        return .fromDisk(ReplyHead(status: 200, headers: headers, served: "orig", note: "from_disk"),
                         internalPath: internalPrefix + encodedPath(path.hasPrefix("/") ? path : "/" + path))
    }

    /// The file's name as nginx must read it: nginx percent-decodes the
    /// X-Accel-Redirect URI and trims blanks, so every byte of each segment
    /// but unreserved characters is encoded (a file named `%65vil` must not
    /// reach `evil`, nor `evil ` reach `evil`).
    static func encodedPath(_ path: String) -> String {
        path.split(separator: "/", omittingEmptySubsequences: false).map { PercentEncoding.encode(String($0)) }.joined(separator: "/")
    }
}
