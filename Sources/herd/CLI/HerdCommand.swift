import ArgumentParser
import Foundation
import Logging
import Negotiation
import Settings
import Media
import Herd
import Imaging

/// `herd`: the worker (default), `herd check-config`, `herd convert`,
/// `herd nginx-map`, `herd purge`.
public struct HerdCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "herd",
        abstract: "Media worker for fediverse servers: fetches media from the origin behind nginx (FastCGI).",
        discussion: """
            Settings come from, strongest first: command-line flags, environment variables \
            (HERD_SECTION_KEY, and UPSTREAM_URL, BIND_ADDRESS, PRESERVE_HEADERS, HERD_LOG), \
            the TOML file (-c, $HERD_CONFIG, or \(ConfigurationLoader.defaultPath)), and defaults.
            Example: UPSTREAM_URL=https://example.social herd
            """,
        subcommands: [Serve.self, CheckConfig.self, ConvertCommand.self, NginxMap.self, PurgeCommand.self, PurgeServerCommand.self, ScoreCommand.self, OptimizeCommand.self, DecodeHEIFCommand.self],
        defaultSubcommand: Serve.self
    )

    public init() {}

    /// Parses the arguments and runs; exits 2 for every configuration or
    /// usage error, after one line naming what is wrong.
    public static func runMain(arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        if arguments.contains("-V") || arguments.contains("--version") {
            print("herd \(HerdVersion.string)")
            Foundation.exit(0)
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
            Foundation.exit(0)
        } catch let error as ConfigurationError {
            FileHandle.standardError.write(Data("herd: configuration error: \(error)\n".utf8))
            Foundation.exit(2)
        } catch {
            let code = exitCode(for: error)
            if code == .success {
                print(fullMessage(for: error))
                Foundation.exit(0)
            }
            FileHandle.standardError.write(Data("herd: \(fullMessage(for: error))\n".utf8))
            Foundation.exit(code == .validationFailure ? 2 : code.rawValue)
        }
    }
}

/// Flags shared by every subcommand that reads the configuration.
struct ConfigurationOptions: ParsableArguments {
    @Option(name: [.short, .long], help: "TOML configuration file (default: $HERD_CONFIG, then \(ConfigurationLoader.defaultPath) if it exists).")
    var config: String?

    @Option(name: [.short, .long], help: "Origin base URL, e.g. https://example.social (upstream.url).")
    var upstream: String?

    @Option(name: [.short, .long], help: "Listen on a unix socket path or host:port (server.bind).")
    var bind: String?

    @Flag(inversion: .prefixedEnableDisable, help: "Serve AVIF to clients that accept it (image.enable_avif).")
    var avif: Bool?

    @Flag(inversion: .prefixedEnableDisable, help: "Serve WebP to clients that accept it (image.enable_webp).")
    var webp: Bool?

    @Flag(inversion: .prefixedNo, help: "Keep the origin's response headers (server.preserve_upstream_headers).")
    var preserveHeaders: Bool?

    @Option(help: "Accept threads, 0 = automatic (server.threads).")
    var threads: String?

    @Option(help: "trace, debug, info, notice, warning, error or critical (log.level).")
    var logLevel: String?

    @Option(name: .customLong("set"), help: ArgumentHelp("Set any key, e.g. --set cache.ttl=3600. Repeatable.", valueName: "key=value"))
    var settings: [String] = []

    func overrides() throws(ConfigurationError) -> [ConfigurationLoader.Override] {
        var result: [ConfigurationLoader.Override] = []
        func add(_ key: String, _ value: String?, _ flag: String) {
            if let value { result.append(.init(key: key, value: value, flag: flag)) }
        }
        add("upstream.url", upstream, "--upstream")
        add("server.bind", bind, "--bind")
        add("image.enable_avif", avif.map(String.init), avif == true ? "--enable-avif" : "--disable-avif")
        add("image.enable_webp", webp.map(String.init), webp == true ? "--enable-webp" : "--disable-webp")
        add("server.preserve_upstream_headers", preserveHeaders.map(String.init), "--preserve-headers")
        add("server.threads", threads, "--threads")
        add("log.level", logLevel, "--log-level")
        for setting in settings {
            guard let eq = setting.firstIndex(of: "="), eq != setting.startIndex else {
                throw ConfigurationError(key: setting, message: "expected key=value", source: "--set")
            }
            result.append(.init(key: String(setting[..<eq]), value: String(setting[setting.index(after: eq)...]), flag: "--set"))
        }
        return result
    }

    func load(requireUpstream: Bool = true) throws(ConfigurationError) -> ConfigurationLoader.Result {
        try ConfigurationLoader.load(
            file: config,
            environment: ProcessInfo.processInfo.environment,
            overrides: try overrides(),
            requireUpstream: requireUpstream)
    }
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run a worker (the default).")

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let loaded = try options.load()
        let logger = Logging.bootstrap(level: loaded.configuration.log.level)
        try WorkerProcess.run(configuration: loaded.configuration, logger: logger)
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate the configuration and print the effective settings as TOML.")

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let loaded = try options.load()
        print("# herd \(HerdVersion.string): configuration OK (file: \(loaded.file ?? "none, defaults and environment"))")
        print("# effective threads: \(loaded.configuration.effectiveThreads)")
        let decoded = Set(loaded.configuration.image.decode)
        print("# decoders: " + ImageFormat.allCases.map { "\($0.rawValue) \(decoded.contains($0.rawValue) ? "on" : "OFF")" }
            .joined(separator: ", ") + " (image.decode)")
        print(ConfigurationLoader.render(loaded.configuration), terminator: "")
    }
}

struct NginxMap: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "nginx-map",
        abstract: "Print nginx's image-variant map for this configuration's image.formats.",
        discussion: """
            nginx keys its media cache on the variant it computes from Accept; this prints the \
            include that computes it by herd's own rule, for the configured order. Install it with \
            the same configuration (file, environment, --set) the workers use:
              herd nginx-map > /etc/nginx/herd/install/image-formats.conf && nginx -s reload
            """)

    @OptionGroup var options: ConfigurationOptions

    func run() throws {
        let loaded = try options.load(requireUpstream: false)
        print(NginxVariantMap.render(formats: loaded.configuration.image.formatPreference), terminator: "")
    }
}

enum Logging {
    /// One handler for the process: lines to stderr, which systemd sends to the journal.
    static func bootstrap(level: String) -> Logger {
        let logLevel = Logger.Level(rawValue: level.lowercased()) ?? .info
        LoggingSystem.bootstrap { label in LineLogHandler(label: label, level: logLevel) }
        var logger = Logger(label: "herd")
        logger.logLevel = logLevel
        return logger
    }
}
