import Basics
import Negotiation
import FastCGI
import Imaging
import Foundation
import Remote
import Settings
import Media

/// One configuration key: its name in the file, the environment variables
/// that set it, how to parse and check a value, and how to print it back.
/// The table below is the single source for the file parser, the
/// environment, `--set`, and `herd check-config`.
struct ConfigurationKey {
    /// `section.key`, as in the TOML file.
    let name: String
    /// Environment variables, strongest first. `HERD_SECTION_KEY` always
    /// works; some keys also answer to the names akkoma-media-proxy used.
    let environment: [String]
    /// Sets the field, or says what is wrong with the value.
    var apply: (inout HerdConfiguration, ConfigurationValue) -> String?
    /// The current value, as TOML.
    let render: (HerdConfiguration) -> String
    /// A key or password: `check-config` says whether it is set, never what it is.
    var secret = false

    func secretValue() -> ConfigurationKey {
        var key = self
        key.secret = true
        // What is wrong with a secret is said without it: error messages end
        // up in the journal (a stray CR from an environment file, say).
        let apply = self.apply
        key.apply = { configuration, value in
            apply(&configuration, value).map { _ in "not a valid value (a string without control characters; the value is a secret, not shown)" }
        }
        return key
    }

    var section: String { String(name.split(separator: ".")[0]) }
    var leaf: String { String(name.split(separator: ".")[1]) }
}

extension ConfigurationKey {
    static var all: [ConfigurationKey] { [
        .string("upstream.url", env: ["UPSTREAM_URL"], \.upstream.url, check: checkOriginURL),
        .string("upstream.root", \.upstream.root, check: checkAbsolutePathOrEmpty),
        .seconds("upstream.timeout", env: ["UPSTREAM_TIMEOUT"], \.upstream.timeout, minimum: 0.001),
        .seconds("upstream.connect_timeout", \.upstream.connectTimeout, minimum: 0.001),
        .seconds("upstream.transfer_timeout", \.upstream.transferTimeout, minimum: 0),
        .size("upstream.max_body_size", \.upstream.maxBodySize, minimum: 1),
        .size("upstream.min_speed", \.upstream.minSpeed, minimum: 1),
        .integer("upstream.max_fetches_per_host", \.upstream.maxFetchesPerHost, 0...100_000),
        .string("upstream.ca_file", \.upstream.caFile, check: checkReadableFileOrEmpty),
        .string("upstream.s3_access_key", \.upstream.s3AccessKey, check: checkToken),
        .string("upstream.s3_secret_key", \.upstream.s3SecretKey).secretValue(),
        .string("upstream.s3_secret_key_file", \.upstream.s3SecretKeyFile),
        .string("upstream.s3_region", \.upstream.s3Region, check: checkToken),

        .string("server.bind", env: ["BIND_ADDRESS"], \.server.bind, check: checkBind),
        .fileMode("server.socket_mode", \.server.socketMode),
        .integer("server.threads", \.server.threads, 0...256),
        .seconds("server.shutdown_timeout", \.server.shutdownTimeout, minimum: 0),
        .string("server.via_header", env: ["VIA_HEADER"], \.server.viaHeader, check: checkToken),
        .bool("server.preserve_upstream_headers", env: ["PRESERVE_HEADERS"], \.server.preserveUpstreamHeaders),
        .bool("server.behind_cloudflare_free", env: ["BEHIND_CLOUDFLARE_FREE"], \.server.behindCloudflareFree),
        .integer("server.max_uri_length", \.server.maxURILength, 64...65_536),
        .list("server.allowed_clients", \.server.allowedClients, check: checkClientNetwork),

        .integer("cache.max_capacity", \.cache.maxCapacity, 0...10_000_000),
        .integer("cache.ttl", \.cache.ttl, 0...31_536_000),
        .size("cache.max_item_size", \.cache.maxItemSize, minimum: 0),
        .size("cache.max_bytes", \.cache.maxBytes, minimum: 0),
        .integer("cache.error_ttl", \.cache.errorTTL, 0...300),
        .integer("cache.redirect_ttl", \.cache.redirectTTL, 0...86_400),
        .bool("cache.single_flight", \.cache.singleFlight),

        .list("image.formats", \.image.formats, check: checkImageFormat),
        .list("image.decode", \.image.decode, check: checkDecodedFormat),
        .bool("image.enable_avif", env: ["ENABLE_AVIF"], \.image.enableAVIF),
        .bool("image.enable_webp", env: ["ENABLE_WEBP"], \.image.enableWebP),
        .integer("image.quality", \.image.quality, 1...100),
        .integer("image.webp_quality", \.image.webpQuality, 0...100),
        .integer("image.jpeg_quality", \.image.jpegQuality, 0...100),
        .integer("image.avif_quality", \.image.avifQuality, 1...100),
        .integer("image.avif_speed", \.image.avifSpeed, 0...10),
        .string("image.avif_codec", \.image.avifCodec, check: checkAVIFCodec),
        .integer("image.webp_method", \.image.webpMethod, 0...6),
        .integer("image.jxl_quality", \.image.jxlQuality, 1...100),
        .integer("image.jxl_effort", \.image.jxlEffort, 1...9),
        .integer("image.target_quality", \.image.targetQuality, 30...100),
        .integer("image.max_dimension", \.image.maxDimension, 0...65_535),
        .size("image.max_source_bytes", \.image.maxSourceBytes, minimum: 1024),
        .integer("image.max_pixels", \.image.maxPixels, 1...1_000_000_000),
        .integer("image.max_frames", \.image.maxFrames, 1...100_000),
        .integer("image.max_animation_pixels", \.image.maxAnimationPixels, 1...4_000_000_000),
        .seconds("image.timeout", \.image.timeout, minimum: 0.1),
        .integer("image.workers", \.image.workers, 0...256),
        .integer("image.queue", \.image.queue, 0...100_000),
        .size("image.memory_budget", \.image.memoryBudget, minimum: 1 << 20),
        .integer("image.encoder_threads", \.image.encoderThreads, 1...64),

        .string("log.level", env: ["HERD_LOG"], \.log.level, check: checkLogLevel),

        .string("media_proxy.secret_key_base", \.mediaProxy.secretKeyBase).secretValue(),
        .integer("media_proxy.preview_max_dimension", \.mediaProxy.previewMaxDimension, 16...4096),
        .integer("media_proxy.preview_quality", \.mediaProxy.previewQuality, 1...100),
        .size("media_proxy.preview_min_bytes", \.mediaProxy.previewMinBytes, minimum: 0),
        .string("media_proxy.ffmpeg", \.mediaProxy.ffmpeg, check: checkAbsolutePathOrEmpty),
        .seconds("media_proxy.video_frame_timeout", \.mediaProxy.videoFrameTimeout, minimum: 0.5),
        .size("media_proxy.video_frame_memory", \.mediaProxy.videoFrameMemory, minimum: 64 << 20),

        .list("remote.allow_networks", \.remote.allowNetworks, check: checkNetwork),
        .list("remote.blocked_domains", \.remote.blockedDomains, check: checkDomain),
        .size("remote.max_body_size", \.remote.maxBodySize, minimum: 1),
        .seconds("remote.timeout", \.remote.timeout, minimum: 0.001),
        .seconds("remote.connect_timeout", \.remote.connectTimeout, minimum: 0.001),
        .seconds("remote.transfer_timeout", \.remote.transferTimeout, minimum: 1),
        .integer("remote.max_redirects", \.remote.maxRedirects, 0...10),
        .integer("remote.failure_ttl", \.remote.failureTTL, 0...3600),
        .integer("remote.cache_ttl", \.remote.cacheTTL, 0...31_536_000),
        .string("remote.ca_file", \.remote.caFile, check: checkReadableFileOrEmpty),

        .string("camo.key", \.camo.key).secretValue(),
        .bool("misskey.enabled", \.misskey.enabled),
        .bool("misskey.webp_always", \.misskey.webpAlways),
        .list("misskey.allowed_origins", \.misskey.allowedOrigins, check: checkOrigin),
        .string("misskey.svg_rasterizer", \.misskey.svgRasterizer, check: checkAbsolutePathOrEmpty),

        .string("routes.mastodon_prefix", \.routes.mastodonPrefix, check: checkRoutePrefix),
        .string("routes.akkoma_prefix", \.routes.akkomaPrefix, check: checkRoutePrefix),

        .string("purge.cache_dir", \.purge.cacheDir, check: { $0.isEmpty ? "an absolute path is required" : checkAbsolutePathOrEmpty($0) }),
        .list("purge.sockets", \.purge.sockets, check: checkWorkerEndpoint),
        .string("purge.secret", \.purge.secret).secretValue(),
        .string("purge.secret_file", \.purge.secretFile),
        .list("purge.nodes", \.purge.nodes, check: checkNodeURL),
        .seconds("purge.repeat_after", \.purge.repeatAfter, minimum: 0),
        .string("purge.levels", \.purge.levels, check: { CachePurge.parseLevels($0) == nil ? "'\($0)' is not nginx's levels= (1, 2, 1:2, 1:1:2…)" : nil }),
        .bool("optimizer.enabled", \.optimizer.enabled),
        .string("optimizer.store_dir", \.optimizer.storeDir, check: checkAbsolutePathOrEmpty),
        .size("optimizer.store_max_bytes", \.optimizer.storeMaxBytes, minimum: 1 << 20),
        .integer("optimizer.queue", \.optimizer.queue, 1...10_000),
        .fraction("optimizer.cpu_share", \.optimizer.cpuShare),
        .integer("optimizer.first_ttl", \.optimizer.firstTTL, 0...86_400),
        .size("optimizer.min_bytes", \.optimizer.minBytes, minimum: 0),
    ] }

    static func named(_ name: String) -> ConfigurationKey? {
        all.first { $0.name == name }
    }

    /// `HERD_UPSTREAM_URL` for `upstream.url`.
    var canonicalEnvironmentName: String {
        "HERD_" + name.replacingOccurrences(of: ".", with: "_").uppercased()
    }
}

// MARK: - Key kinds

extension ConfigurationKey {
    /// A key whose value is parsed, then checked, then stored; every kind
    /// below is one of these.
    static func parsed<Value>(_ name: String, env: [String], _ field: WritableKeyPath<HerdConfiguration, Value>,
                              expected: String, parse: @escaping (ConfigurationValue) -> Value?,
                              check: @escaping (Value) -> String? = { _ in nil },
                              render: @escaping (Value) -> String) -> ConfigurationKey {
        ConfigurationKey(name: name, environment: env, apply: { configuration, value in
            guard let parsed = parse(value) else { return "expected \(expected), got \(describe(value))" }
            if let problem = check(parsed) { return problem }
            configuration[keyPath: field] = parsed
            return nil
        }, render: { render($0[keyPath: field]) })
    }

    static func string(_ name: String, env: [String] = [], _ field: WritableKeyPath<HerdConfiguration, String>,
                       check: @escaping (String) -> String? = { _ in nil }) -> ConfigurationKey {
        parsed(name, env: env, field, expected: "a string", parse: ValueParser.text, check: { text in
            checkNoControlCharacters(text) ?? check(text)
        }, render: tomlString)
    }

    static func bool(_ name: String, env: [String] = [], _ field: WritableKeyPath<HerdConfiguration, Bool>) -> ConfigurationKey {
        parsed(name, env: env, field, expected: "true or false", parse: ValueParser.bool, render: { String($0) })
    }

    static func integer(_ name: String, env: [String] = [], _ field: WritableKeyPath<HerdConfiguration, Int>,
                        _ range: ClosedRange<Int>) -> ConfigurationKey {
        parsed(name, env: env, field, expected: "an integer", parse: ValueParser.integer,
               check: { range.contains($0) ? nil : "\($0) is outside \(range.lowerBound)…\(range.upperBound)" },
               render: { String($0) })
    }

    static func seconds(_ name: String, env: [String] = [], _ field: WritableKeyPath<HerdConfiguration, Double>,
                        minimum: Double) -> ConfigurationKey {
        parsed(name, env: env, field, expected: "seconds (e.g. 30 or 2.5)", parse: ValueParser.seconds,
               check: { $0 >= minimum && $0 <= 86_400 ? nil : "\($0) s is outside \(minimum)…86400" },
               render: formatSeconds)
    }

    static func size(_ name: String, env: [String] = [], _ field: WritableKeyPath<HerdConfiguration, Int>,
                     minimum: Int) -> ConfigurationKey {
        parsed(name, env: env, field, expected: "bytes (e.g. 1048576 or \"16MB\")", parse: ValueParser.size,
               check: { $0 >= minimum ? nil : "\($0) is below \(minimum)" }, render: formatSize)
    }

    /// A list of strings: a TOML array, or comma-separated from the
    /// environment and `--set`. Each item is checked on its own.
    static func list(_ name: String, env: [String] = [], _ field: WritableKeyPath<HerdConfiguration, [String]>,
                     check: @escaping (String) -> String?) -> ConfigurationKey {
        parsed(name, env: env, field, expected: "a list of strings (comma-separated from the environment)",
               parse: ValueParser.list, check: { items in
                   for item in items {
                       if let problem = checkNoControlCharacters(item) ?? check(item) { return problem }
                   }
                   return nil
               }, render: { "[" + $0.map(tomlString).joined(separator: ", ") + "]" })
    }

    /// A share, more than 0 and at most 1 (0.25: a quarter).
    static func fraction(_ name: String, env: [String] = [], _ field: WritableKeyPath<HerdConfiguration, Double>) -> ConfigurationKey {
        parsed(name, env: env, field, expected: "a share such as 0.25", parse: ValueParser.seconds,
               check: { $0 > 0 && $0 <= 1 ? nil : "\($0) is outside (0, 1]" }, render: { String($0) })
    }

    /// A unix permission mode, written as a string ("0660") so TOML does not
    /// read it as decimal.
    static func fileMode(_ name: String, _ field: WritableKeyPath<HerdConfiguration, Int>) -> ConfigurationKey {
        parsed(name, env: [], field, expected: "an octal mode such as \"0660\"", parse: { value in
            guard let text = ValueParser.text(value), let mode = Int(text, radix: 8), (0...0o777).contains(mode) else { return nil }
            return mode
        }, render: { "\"0" + String($0, radix: 8) + "\"" })
    }
}

// MARK: - Checks

/// No setting is made of control characters; a NUL would also be cut off on
/// the way through the TOML parser's C strings (what `check-config` prints
/// would load as something else).
private func checkNoControlCharacters(_ text: String) -> String? {
    text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7f })
        ? "control characters are not allowed, got \(describe(.text(text)))" : nil
}

private func describe(_ value: ConfigurationValue) -> String {
    switch value {
    case .text(let text): "\"\(text)\""
    case .integer(let number): String(number)
    case .number(let number): String(number)
    case .flag(let flag): String(flag)
    case .list(let items): "[" + items.map { "\"\($0)\"" }.joined(separator: ", ") + "]"
    case .other(let name): name
    }
}

func checkOriginURL(_ text: String) -> String? {
    if text.isEmpty { return nil }  // "required" is checked once all sources are merged
    guard let components = URLComponents(string: text),
          let scheme = components.scheme?.lowercased(), scheme == "http" || scheme == "https" else {
        return "'\(text)' is not an http:// or https:// URL"
    }
    guard let host = components.host, !host.isEmpty else { return "'\(text)' has no host" }
    guard components.query == nil, components.fragment == nil else { return "'\(text)' must not have a query or fragment" }
    guard components.user == nil, components.password == nil else { return "'\(text)' must not carry credentials" }
    return nil
}

/// A worker's socket path, or host:port for a worker on TCP.
/// A node's nginx on the private network: http(s)://host[:port], nothing after.
private func checkNodeURL(_ text: String) -> String? {
    guard let components = URLComponents(string: text), let scheme = components.scheme, scheme == "http" || scheme == "https",
          let host = components.host, !host.isEmpty, components.path.isEmpty || components.path == "/",
          components.query == nil, components.user == nil, components.fragment == nil else {
        return "'\(text)' is not a node's address like http://10.0.0.2:8080"
    }
    return nil
}

private func checkWorkerEndpoint(_ text: String) -> String? {
    if text.hasPrefix("/") { return checkAbsolutePathOrEmpty(text) }
    guard (try? BindAddress(parsing: text)) != nil, !text.unicodeScalars.contains(where: { $0.value < 0x20 }) else {
        return "'\(text)' is not a socket path or host:port"
    }
    return nil
}

private func checkBind(_ text: String) -> String? {
    do {
        _ = try BindAddress(parsing: text)
        return nil
    } catch {
        return "'\(text)': \(error.description)"
    }
}

private func checkReadableFileOrEmpty(_ text: String) -> String? {
    guard !text.isEmpty else { return nil }
    return FileManager.default.isReadableFile(atPath: text) ? nil : "'\(text)' is not a readable file"
}

/// No control characters: no file is named so, and TOML cannot carry NUL.
private func checkAbsolutePathOrEmpty(_ text: String) -> String? {
    if text.unicodeScalars.contains(where: { $0.value < 0x20 || $0.value == 0x7F }) { return "a path with control characters" }
    return text.isEmpty || text.hasPrefix("/") ? nil : "'\(text)' is not an absolute path"
}

/// "" or an absolute path without a trailing slash.
private func checkRoutePrefix(_ text: String) -> String? {
    RoutePrefixes.isValid(text) ? nil : "'\(text)' is not \"\" or a path such as /system (no trailing slash)"
}

/// A format herd may send in place of the original.
/// `scheme://host[:port]`, as a browser's Origin header says it.
private func checkOrigin(_ text: String) -> String? {
    WebOrigin(text) == nil
        ? "'\(text)' is not an origin such as https://misskey.example (scheme, ASCII host, optional port; no path)" : nil
}

private func checkDecodedFormat(_ text: String) -> String? {
    ImageFormat(rawValue: text) == nil
        ? "'\(text)' is not one of " + ImageFormat.allCases.map(\.rawValue).joined(separator: ", ") : nil
}

private func checkImageFormat(_ text: String) -> String? {
    NegotiatedFormat(rawValue: text) == nil
        ? "'\(text)' is not one of " + NegotiatedFormat.allCases.map(\.rawValue).joined(separator: ", ") : nil
}

/// A network in CIDR form (or one address), as the address guard reads it.
private func checkNetwork(_ text: String) -> String? {
    IPNetwork(text) == nil ? "'\(text)' is not a network such as 10.0.0.0/8 or fd00::/8" : nil
}

/// A network of FastCGI clients. An IPv4 peer of a dual-stack socket is
/// matched as IPv4, so an IPv4-mapped network (::ffff:…) would never match:
/// refused, with the network to write instead.
private func checkClientNetwork(_ text: String) -> String? {
    if let problem = checkNetwork(text) { return problem }
    if text.lowercased().hasPrefix("::ffff:") {
        return "'\(text)' is an IPv4-mapped network: IPv4 peers are matched as IPv4, write it as an IPv4 network (e.g. 127.0.0.0/8)"
    }
    return nil
}

/// A domain name: the domain and every name under it are refused.
private func checkDomain(_ text: String) -> String? {
    let valid = !text.isEmpty && text.count <= 253 && !text.hasPrefix(".") && !text.hasSuffix(".")
        && text.unicodeScalars.allSatisfy { ($0 >= "a" && $0 <= "z") || ($0 >= "0" && $0 <= "9") || $0 == "-" || $0 == "." }
    return valid ? nil : "'\(text)' is not a lowercase domain name such as bad.example"
}

private func checkToken(_ text: String) -> String? {
    let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-._~/"))
    return text.unicodeScalars.allSatisfy(allowed.contains) ? nil : "'\(text)' may only hold letters, digits and - . _ ~ /"
}

private func checkAVIFCodec(_ text: String) -> String? {
    ["aom", "rav1e", "svt"].contains(text) ? nil : "'\(text)' is not one of aom, rav1e, svt"
}

private func checkLogLevel(_ text: String) -> String? {
    ["trace", "debug", "info", "notice", "warning", "error", "critical"].contains(text.lowercased())
        ? nil : "'\(text)' is not one of trace, debug, info, notice, warning, error, critical"
}

// MARK: - Rendering

func tomlString(_ text: String) -> String {
    var escaped = "\""
    for scalar in text.unicodeScalars {
        switch scalar {
        case "\"": escaped += "\\\""
        case "\\": escaped += "\\\\"
        case "\n": escaped += "\\n"
        case "\t": escaped += "\\t"
        case _ where scalar.value < 0x20 || scalar.value == 0x7f:
            // Any other control character, so the printed file loads back.
            let hex = String(scalar.value, radix: 16, uppercase: true)
            escaped += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        default: escaped.unicodeScalars.append(scalar)
        }
    }
    return escaped + "\""
}

func formatSeconds(_ seconds: Double) -> String {
    seconds == seconds.rounded() ? String(Int(seconds)) : String(seconds)
}

func formatSize(_ bytes: Int) -> String {
    for (unit, factor) in [("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)] where bytes >= factor && bytes % factor == 0 {
        return "\"\(bytes / factor)\(unit)\""
    }
    return String(bytes)
}
