import Basics
import Foundation
import Imaging
import Upstream

/// A media request for a file below `upstream.root`. What nginx can send
/// itself goes back to it as `X-Accel-Redirect` to its internal location
/// (install/disk-files.conf, an alias of the same root): sendfile, ranges,
/// conditionals, no copy through the worker. That is everything that is
/// not an image herd converts for this variant — videos, audio, originals —
/// and images over `image.max_source_bytes`. Images to convert are read
/// whole and answered like the origin's (`ImageAnswer`), with an ETag and
/// Last-Modified from the file; an image that stays as it is goes to nginx
/// too.
struct DiskAnswer {
    let context: WorkerContext
    /// nginx's internal location that aliases the root.
    static let internalPrefix = "/_herd_files"

    func reply(to request: MediaRequest, location: SourceLocation) -> Reply {
        guard let root = context.disk else { return .failure(Refusal(status: 500, reason: "disk_not_configured")) }
        let path = location.request.url
        let file: DiskRoot.File
        do {
            file = try root.open(path)
        } catch .outsideRoot {
            return .failure(Refusal(status: 404, reason: "outside_root", detail: "\(path) leads outside \(root.path)"))
        } catch .notFound, .notAFile {
            return .failure(Refusal(status: 404, reason: "not_found"))
        } catch {
            return .failure(Refusal(status: 500, reason: "disk_error", detail: "\(path): \(error)"))
        }
        defer { file.close() }

        let start = file.read(ImageFormat.sniffLength) ?? []
        let format = ImageFormat.sniff(start)
        let variant = request.variant
        let converts = format.map { format in
            ImageConversion.target(for: variant, source: format, animated: false) != nil
                || ImageConversion.target(for: variant, source: format, animated: true) != nil
        } ?? false
        let maxBytes = context.configuration.image.maxSourceBytes
        if !converts || file.size > maxBytes {
            // A HEIC goes to no browser as it is.
            if format == .heif { return .failure(Refusal(status: 415, reason: "too_large")) }
            return Self.fromDisk(path, request: request, configuration: context.configuration)
        }
        guard let body = file.read(file.size), body.count == file.size else {
            return .failure(Refusal(status: 500, reason: "disk_error", detail: "\(path): short read"))
        }
        let head = UpstreamResponseHead(status: 200, headers: [
            ("Content-Type", format?.mimeType ?? "application/octet-stream"),
            ("Content-Length", String(body.count)),
            ("ETag", file.etag),
            ("Last-Modified", Self.httpDate(file.modified.tv_sec)),
        ])
        let source = SourceResponse(head: head, body: body)
        let answer = ImageAnswer(context: context).reply(to: request, from: source, sourceKey: location.key + " " + file.etag)
        // The source as it is: nginx sends it from disk, not this copy.
        if case .whole(let replyHead, _) = answer, replyHead.served == "orig", replyHead.note == nil || replyHead.note == "not_smaller" {
            return Self.fromDisk(path, request: request, configuration: context.configuration)
        }
        return answer
    }

    /// The file, sent by nginx: its internal location serves it with its
    /// own ETag, Last-Modified, ranges and conditionals.
    static func fromDisk(_ path: String, request: MediaRequest, configuration: HerdConfiguration) -> Reply {
        let headers: HTTPHeaders = [
            ("Cache-Control", "public, max-age=\(configuration.cache.ttl)"),
            ("X-Herd-Variant", "orig"),
            ("X-Herd-Source", "disk"),
        ]
        return .fromDisk(ReplyHead(status: 200, headers: headers, served: "orig", note: "from_disk"),
                         internalPath: internalPrefix + (path.hasPrefix("/") ? path : "/" + path))
    }

    /// RFC 9110's IMF-fixdate.
    static func httpDate(_ seconds: Int) -> String {
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss 'GMT'"
        return formatter.string(from: Date(timeIntervalSince1970: TimeInterval(seconds)))
    }
}
