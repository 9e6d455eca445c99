import ArgumentParser
import FastCGI
import Foundation
import Media
import Herd

/// `herd purge URL…`: every cached variant of each URL out of nginx's media
/// cache (CachePurge). URLs may also come space-separated in one argument,
/// as Akkoma's `MediaProxy.Invalidation.Script` passes them.
struct PurgeCommand: ParsableCommand {
    /// The systemd pool's sockets (deploy/systemd: /run/herd/herd-N.sock).
    static func poolSockets() -> [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: "/run/herd")) ?? []
        return names.filter { $0.hasSuffix(".sock") }.sorted().map { "/run/herd/" + $0 }
    }

    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Remove every cached variant of the given URLs from nginx's media cache.",
        discussion: """
            Computes nginx's cache file names (MD5 of the shipped cache key, purge.levels layout) under \
            purge.cache_dir and removes the files that hold those keys; nothing else in the cache is read. \
            Then each worker (purge.sockets) forgets the source it may hold in memory. \
            Run as a user that may delete nginx's cache files (e.g. root or www-data). Examples:
              herd purge https://social.example/system/media_attachments/files/000/000/001/original/photo.jpg
              herd purge --cache-dir /var/cache/nginx-herd/media "https://a.example/x.png https://a.example/y.png"
            """)

    @Argument(help: "URLs as clients request them (several per argument, space-separated, are fine).")
    var urls: [String] = []

    @Option(name: .customLong("cache-dir"), help: "nginx's media cache directory (purge.cache_dir).")
    var cacheDirectory: String?

    @Option(help: "fastcgi_cache_path's levels= (purge.levels), e.g. 1:2.")
    var levels: String?

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let loaded = try options.load(requireUpstream: false)
        let directory = cacheDirectory ?? loaded.configuration.purge.cacheDir
        let levelsText = levels ?? loaded.configuration.purge.levels
        guard let parsedLevels = CachePurge.parseLevels(levelsText) else {
            throw ValidationError("--levels must be nginx's levels= form, e.g. 1:2 (got \(levelsText))")
        }
        let purge = CachePurge(directory: directory, levels: parsedLevels)
        let list = urls.flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init) }
        guard !list.isEmpty else { throw ValidationError("no URL given") }
        let sockets = loaded.configuration.purge.sockets.isEmpty ? Self.poolSockets() : loaded.configuration.purge.sockets
        var failed = 0
        for url in list {
            guard let report = purge.purgeEverywhere(url, sockets: sockets) else {
                FileHandle.standardError.write(Data("herd purge: not an http(s) URL with a host: \(url)\n".utf8))
                failed += 1
                continue
            }
            for error in report.workerErrors {
                FileHandle.standardError.write(Data("herd purge: \(error)\n".utf8))
            }
            failed += report.workerErrors.count
            print("\(url): \(report.removed.count) cached variant\(report.removed.count == 1 ? "" : "s") removed from nginx's cache,"
                  + " source forgotten by \(report.forgotten) of \(sockets.count) worker\(sockets.count == 1 ? "" : "s")")
        }
        if failed > 0 { throw ExitCode(1) }
    }
}
