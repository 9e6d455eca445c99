import Basics
import Foundation
import System
import TOMLKit
import Settings
import Media

/// Builds the effective configuration from defaults, one TOML file, the
/// environment and command-line overrides, in that order (later wins).
public enum ConfigurationLoader {
    /// Where the file is looked for when neither `-c` nor `HERD_CONFIG` names one.
    public static let defaultPath = "/etc/herd/config.toml"

    /// A command-line override: `key` is `section.key`, `flag` is what the
    /// admin typed (for error messages).
    public struct Override: Sendable {
        public var key: String
        public var value: String
        public var flag: String
        public init(key: String, value: String, flag: String) {
            self.key = key
            self.value = value
            self.flag = flag
        }
    }

    public struct Result: Sendable {
        public var configuration: HerdConfiguration
        /// The file that was read, if any.
        public var file: String?
    }

    public static func load(
        file explicitFile: String?,
        environment: [String: String],
        overrides: [Override],
        requireUpstream: Bool = true
    ) throws(ConfigurationError) -> Result {
        var configuration = HerdConfiguration()
        let keys = ConfigurationKey.all

        // 1. The file.
        let file: String?
        if let explicit = explicitFile ?? environment["HERD_CONFIG"], !explicit.isEmpty {
            guard FileManager.default.fileExists(atPath: explicit) else {
                throw ConfigurationError(key: "config", message: "no such file: \(explicit)")
            }
            file = explicit
        } else {
            file = FileManager.default.fileExists(atPath: defaultPath) ? defaultPath : nil
        }
        if let file {
            try applyFile(file, to: &configuration, keys: keys)
        }

        // 2. The environment: HERD_SECTION_KEY, then the short aliases.
        for key in keys {
            for name in [key.canonicalEnvironmentName] + key.environment {
                guard let value = environment[name] else { continue }
                if let problem = key.apply(&configuration, .text(value)) {
                    throw ConfigurationError(key: key.name, message: problem, source: "$\(name)")
                }
                break
            }
        }

        // 3. Command-line flags.
        for override in overrides {
            guard let key = ConfigurationKey.named(override.key) else {
                throw ConfigurationError(key: override.key, message: "unknown key; known keys: \(keys.map(\.name).joined(separator: ", "))", source: override.flag)
            }
            if let problem = key.apply(&configuration, .text(override.value)) {
                throw ConfigurationError(key: key.name, message: problem, source: override.flag)
            }
        }

        if case .tcp(let host, _) = configuration.bindAddress, !Self.isLoopback(host),
           configuration.server.allowedClients == HerdConfiguration.Server.loopbackClients {
            throw ConfigurationError(key: "server.allowed_clients", message: "server.bind is \(configuration.server.bind): a worker there "
                + "answers FastCGI (HERD_PURGE, HERD_VARIANT…) to anyone who can reach it; list the networks nginx connects from, "
                + "e.g. allowed_clients = [\"10.0.0.0/24\"]")
        }
        // The bucket's secret is the workers' (and check-config's) to read;
        // the purge tools run as another user and never need it.
        if requireUpstream, !configuration.upstream.s3AccessKey.isEmpty {
            _ = try Self.s3Secret(configuration.upstream)
        }
        if requireUpstream, configuration.upstream.url.isEmpty, configuration.upstream.root.isEmpty {
            throw ConfigurationError(key: "upstream.url", message: "the origin is required: set [upstream] url, UPSTREAM_URL or --upstream")
        }
        return Result(configuration: configuration, file: file)
    }

    static func applyFile(_ path: String, to configuration: inout HerdConfiguration, keys: [ConfigurationKey]) throws(ConfigurationError) {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw ConfigurationError(key: "config", message: "cannot read \(path): \(error.localizedDescription)")
        }
        guard TOMLParserProbe.survives(text) else {
            throw ConfigurationError(key: "config", message: "\(path): not valid TOML (the parser gave up on it)")
        }
        let table: TOMLTable
        do {
            table = try TOMLTable(string: text)
        } catch let error as TOMLParseError {
            throw ConfigurationError(key: "config", message: "\(path):\(error.source.begin.line):\(error.source.begin.column): \(error.description)")
        } catch {
            throw ConfigurationError(key: "config", message: "\(path): \(error)")
        }
        try apply(table: table, to: &configuration, keys: keys, source: path)
    }

    /// Applies a parsed TOML table; unknown sections and keys are errors, so
    /// a typo never silently falls back to a default.
    static func apply(table: TOMLTable, to configuration: inout HerdConfiguration, keys: [ConfigurationKey], source: String) throws(ConfigurationError) {
        let sections = Set(keys.map(\.section))
        for sectionName in table.keys.sorted() {
            guard sections.contains(sectionName) else {
                throw ConfigurationError(key: sectionName, message: "unknown section; known sections: \(sections.sorted().joined(separator: ", "))", source: source)
            }
            guard let section = table[sectionName]?.table else {
                throw ConfigurationError(key: sectionName, message: "expected a [\(sectionName)] table", source: source)
            }
            for leaf in section.keys.sorted() {
                let name = "\(sectionName).\(leaf)"
                guard let key = ConfigurationKey.named(name) else {
                    let known = keys.filter { $0.section == sectionName }.map(\.leaf).joined(separator: ", ")
                    throw ConfigurationError(key: name, message: "unknown key; [\(sectionName)] takes \(known)", source: source)
                }
                guard let raw = section[leaf] else { continue }
                if let problem = key.apply(&configuration, value(of: raw)) {
                    throw ConfigurationError(key: name, message: problem, source: source)
                }
            }
        }
    }

    private static func value(of raw: TOMLValueConvertible) -> ConfigurationValue {
        switch raw.type {
        case .string: return .text(raw.string ?? "")
        case .int: return .integer(raw.int ?? 0)
        case .double: return .number(raw.double ?? 0)
        case .bool: return .flag(raw.bool ?? false)
        case .array:
            var items: [String] = []
            for item in raw.array ?? TOMLArray() {
                guard item.type == .string, let text = item.string else {
                    return .other(typeName: "an array holding a TOML \(item.type.rawValue)")
                }
                items.append(text)
            }
            return .list(items)
        default: return .other(typeName: "a TOML \(raw.type.rawValue)")
        }
    }

    /// The effective configuration as a TOML document. Secrets are shown as
    /// set or not, unless `showingSecrets` (a round trip, in the fuzzer).
    public static func render(_ configuration: HerdConfiguration, showingSecrets: Bool = false) -> String {
        var output = ""
        var currentSection = ""
        for key in ConfigurationKey.all {
            if key.section != currentSection {
                if !output.isEmpty { output += "\n" }
                output += "[\(key.section)]\n"
                currentSection = key.section
            }
            // A secret is never printed: check-config output ends up in logs
            // and bug reports.
            let value = key.render(configuration)
            output += "\(key.leaf) = \(key.secret && !showingSecrets && value != "\"\"" ? "\"(set, not shown)\"" : value)\n"
        }
        return output
    }
}

/// Secrets and addresses the loader checks.
extension ConfigurationLoader {
    /// The secret key of a private bucket: `upstream.s3_secret_key`, or the
    /// contents of `upstream.s3_secret_key_file`.
    public static func s3Secret(_ upstream: HerdConfiguration.Upstream) throws(ConfigurationError) -> String {
        guard let secret = try secret(inline: upstream.s3SecretKey, file: upstream.s3SecretKeyFile, fileKey: "upstream.s3_secret_key_file") else {
            throw ConfigurationError(key: "upstream.s3_secret_key", message: "upstream.s3_access_key is set: set the secret key too "
                                     + "(s3_secret_key, HERD_UPSTREAM_S3_SECRET_KEY, or s3_secret_key_file)")
        }
        return secret
    }

    /// The secret a purge over HTTP must carry: `purge.secret`, or the
    /// contents of `purge.secret_file`; nil when neither is set.
    public static func purgeSecret(_ purge: HerdConfiguration.Purge) throws(ConfigurationError) -> String? {
        guard let secret = try secret(inline: purge.secret, file: purge.secretFile, fileKey: "purge.secret_file") else { return nil }
        guard secret.utf8.count >= 16 else {
            throw ConfigurationError(key: "purge.secret", message: "the purge secret is \(secret.utf8.count) bytes: use 16 or more "
                                     + "(e.g. openssl rand -hex 32)")
        }
        return secret
    }

    /// A secret given inline, or read from a file (relative: below systemd's
    /// $CREDENTIALS_DIRECTORY, LoadCredential=) that no one but its owner
    /// may read. Nil when neither is set.
    static func secret(inline: String, file: String, fileKey: String) throws(ConfigurationError) -> String? {
        if !inline.isEmpty { return inline }
        guard !file.isEmpty else { return nil }
        var path = file
        if !path.hasPrefix("/"), let directory = ProcessInfo.processInfo.environment["CREDENTIALS_DIRECTORY"] {
            path = directory + "/" + path
        }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        guard let mode = (attributes?[.posixPermissions] as? NSNumber)?.intValue,
              let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigurationError(key: fileKey, message: "cannot read \(path)")
        }
        guard mode & 0o077 == 0 else {
            throw ConfigurationError(key: fileKey, message: "\(path) may be read by others (mode "
                                     + String(mode & 0o777, radix: 8) + "): make it 0400 or 0600, or use LoadCredential=")
        }
        let secret = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !secret.isEmpty else { throw ConfigurationError(key: fileKey, message: "\(path) is empty") }
        return secret
    }

    /// A host that names this machine's loopback only.
    static func isLoopback(_ host: String) -> Bool {
        if host == "localhost" { return true }
        guard let address = IPAddress(host) else { return false }
        return IPNetwork("127.0.0.0/8")!.contains(address) || address == IPAddress("::1")
    }
}

/// toml++ 3.x (inside TOMLKit 0.6) aborts on some malformed files instead of
/// reporting an error (`[.key]`, a control byte inside a time: assertions
/// that stay on in release builds; fixed upstream in toml++ PR #301). A bad
/// configuration file must end in a message and exit status 2, not SIGABRT:
/// the text is parsed once in a child process first, and only a text the
/// child survived is parsed for real. Runs at start-up, before any thread.
enum TOMLParserProbe {
    static func survives(_ text: String) -> Bool {
        ForkedProbe.survives { _ = try? TOMLTable(string: text) }
    }
}

