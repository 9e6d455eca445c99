import ArgumentParser
import FastCGI
import Foundation
import Herd
import Logging
import Upstream

/// `herd purge URL…`: every cached variant of each URL out of nginx's media
/// cache (CachePurge), the workers told to forget the source, and the purge
/// relayed to every other node (`purge.nodes`). URLs may also come
/// space-separated in one argument, as Akkoma's
/// `MediaProxy.Invalidation.Script` passes them.
struct PurgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge",
        abstract: "Remove every cached variant of the given URLs from nginx's media cache, here and on every node.",
        discussion: """
            Computes nginx's cache file names (MD5 of the shipped cache key, purge.levels layout) under \
            purge.cache_dir and removes the files that hold those keys; nothing else in the cache is read. \
            Then each worker (purge.sockets) forgets the source it may hold in memory, and each other node \
            (purge.nodes, --node) is sent the same purge over HTTP with the purge secret. \
            Run as a user that may delete nginx's cache files (e.g. root or www-data). Examples:
              herd purge https://social.example/system/media_attachments/files/000/000/001/original/photo.jpg
              herd purge --cache-dir /var/cache/nginx-herd/media "https://a.example/x.png https://a.example/y.png"
              herd purge --node http://10.0.0.2:8080 --node http://10.0.0.3:8080 https://files.example/a.png
            """)

    @Argument(help: "URLs as clients request them (several per argument, space-separated, are fine).")
    var urls: [String] = []

    @Option(name: .customLong("cache-dir"), help: "nginx's media cache directory (purge.cache_dir).")
    var cacheDirectory: String?

    @Option(help: "fastcgi_cache_path's levels= (purge.levels), e.g. 1:2.")
    var levels: String?

    @Option(name: .customLong("node"), help: "Another node's nginx on the private network (purge.nodes), e.g. http://10.0.0.2:8080. Repeatable.")
    var nodes: [String] = []

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        var extra = nodes.isEmpty ? [] : [ConfigurationLoader.Override(key: "purge.nodes", value: nodes.joined(separator: ","), flag: "--node")]
        extra += try options.overrides()
        let loaded = try ConfigurationLoader.load(file: options.config, environment: ProcessInfo.processInfo.environment,
                                                  overrides: extra, requireUpstream: false)
        let configuration = loaded.configuration
        let directory = cacheDirectory ?? configuration.purge.cacheDir
        let levelsText = levels ?? configuration.purge.levels
        guard let parsedLevels = CachePurge.parseLevels(levelsText) else {
            throw ValidationError("--levels must be nginx's levels= form, e.g. 1:2 (got \(levelsText))")
        }
        let purge = CachePurge(directory: directory, levels: parsedLevels)
        let list = urls.flatMap { $0.split(whereSeparator: { $0 == " " || $0 == "\n" || $0 == "\t" }).map(String.init) }
        guard !list.isEmpty else { throw ValidationError("no URL given") }
        let sockets = CachePurge.workerSockets(configured: configuration.purge.sockets)
        let nodeList = configuration.purge.nodes.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 }
        var secret: String?
        var client: UpstreamClient?
        if !nodeList.isEmpty {
            guard let found = try ConfigurationLoader.purgeSecret(configuration.purge) else {
                throw ValidationError("purge.nodes is set: the nodes need the purge secret (purge.secret_file, e.g. /etc/herd/purge-secret, "
                                      + "purge.secret or HERD_PURGE_SECRET)")
            }
            secret = found
            UpstreamClient.globalInit()
            client = try UpstreamClient(configuration: PurgeService.relayClientConfiguration())
        }
        var failed = 0
        for url in list {
            guard let report = purge.purgeEverywhere(url, sockets: sockets), let components = URLComponents(string: url),
                  let host = components.host else {
                FileHandle.standardError.write(Data("herd purge: not an http(s) URL with a host: \(url)\n".utf8))
                failed += 1
                continue
            }
            for error in report.workerErrors {
                FileHandle.standardError.write(Data("herd purge: \(error)\n".utf8))
            }
            failed += report.workerErrors.count
            var line = "\(url): \(report.removed.count) cached variant\(report.removed.count == 1 ? "" : "s") removed from nginx's cache,"
                + " source forgotten by \(report.forgotten) of \(sockets.count) worker\(sockets.count == 1 ? "" : "s")"
            if let client, let secret {
                // The request as nginx saw it: the URL's own path and query.
                let path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
                let uri = path + (components.percentEncodedQuery.map { "?" + $0 } ?? "")
                var removedOnNodes = 0
                for node in nodeList {
                    let result = PurgeService.relay(UpstreamRequest(url: node + uri, headers: [
                        ("Host", host.lowercased()), (PurgeService.secretHeader, secret), (PurgeService.relayedHeader, "1"),
                    ], method: "PURGE"), with: client)
                    if let removed = result.removed, result.status == 200 {
                        removedOnNodes += removed
                    } else {
                        failed += 1
                        FileHandle.standardError.write(Data("herd purge: node \(node): \(result.error ?? "answered \(result.status.map(String.init) ?? "nothing")")\n".utf8))
                    }
                }
                line += "; \(removedOnNodes) more on \(nodeList.count) node\(nodeList.count == 1 ? "" : "s")"
            }
            print(line)
        }
        if failed > 0 { throw ExitCode(1) }
    }
}

/// `herd purge-server`: purges over HTTP (PurgeService), behind nginx.
struct PurgeServerCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "purge-server",
        abstract: "Answer purges over HTTP (Mastodon's cache buster, Akkoma's Invalidation.Http) for nginx.",
        discussion: """
            A FastCGI service nginx hands purge requests to (install/purge-pass.conf): a media URL's PURGE, or any \
            request carrying X-Herd-Purge-Secret. With the right secret (purge.secret_file, purge.secret or \
            HERD_PURGE_SECRET) it removes every cached variant of the URL from nginx's cache, tells the workers to \
            forget its source and relays the purge once to each other node (purge.nodes); it answers with what it \
            removed, as JSON. A wrong or missing secret gets 403 and a log line. It must run as the user whose \
            files nginx's cache holds (www-data: herd-purge.service).
              herd purge-server --bind /run/herd/purge.sock
            """)

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        var overrides = try options.overrides()
        if options.bind == nil, ProcessInfo.processInfo.environment["HERD_SERVER_BIND"] == nil {
            overrides.append(.init(key: "server.bind", value: "/run/herd/purge.sock", flag: "(purge-server's default)"))
        }
        let loaded = try ConfigurationLoader.load(file: options.config, environment: ProcessInfo.processInfo.environment,
                                                  overrides: overrides, requireUpstream: false)
        let logger = Logging.bootstrap(level: loaded.configuration.log.level)
        try PurgeServer.run(configuration: loaded.configuration, logger: logger)
    }
}
