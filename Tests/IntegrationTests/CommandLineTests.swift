import Foundation
import Testing

/// The `herd` binary's configuration handling: precedence, clear errors, exit 2.
@Suite("herd command line")
struct CommandLineTests {
    struct Run {
        var status: Int32
        var output: String
        var errors: String
    }

    func herd(_ arguments: [String], environment: [String: String] = [:], timeout: Double = 10) throws -> Run {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Paths.herdBinary)
        process.arguments = arguments
        var env = ProcessInfo.processInfo.environment
        for key in env.keys where key.hasPrefix("HERD_") || ["UPSTREAM_URL", "BIND_ADDRESS", "PRESERVE_HEADERS"].contains(key) {
            env[key] = nil
        }
        for (key, value) in environment { env[key] = value }
        process.environment = env
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return Run(status: process.terminationStatus, output: String(decoding: outData, as: UTF8.self),
                   errors: String(decoding: errData, as: UTF8.self))
    }

    func writeConfig(_ text: String) throws -> String {
        let directory = try Paths.temporaryDirectory("config")
        let path = directory.appendingPathComponent("herd.toml").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    @Test("bad values exit 2 with one line naming the key", arguments: [
        ("[server]\ntreads = 4\n", "server.treads"),
        ("[sever]\nthreads = 4\n", "sever"),
        ("[server]\nthreads = \"four\"\n", "server.threads"),
        ("[server]\nthreads = 100000\n", "server.threads"),
        ("[upstream]\nurl = \"ftp://example.social\"\n", "upstream.url"),
        ("[upstream]\nurl = \"not a url\"\n", "upstream.url"),
        ("[upstream]\nurl = \"https://example.social\"\ntimeout = \"soon\"\n", "upstream.timeout"),
        ("[upstream]\nurl = \"https://example.social\"\nmax_body_size = \"lots\"\n", "upstream.max_body_size"),
        ("[upstream]\nurl = \"https://example.social\"\n[server]\nbind = \"relative/herd.sock\"\n", "server.bind"),
        ("[upstream]\nurl = \"https://example.social\"\n[server]\nbind = \"127.0.0.1:99999\"\n", "server.bind"),
        ("[upstream]\nurl = \"https://example.social\"\n[server]\npreserve_upstream_headers = \"yes please\"\n", "server.preserve_upstream_headers"),
        ("[upstream]\nurl = \"https://example.social\"\n[image]\nquality = 0\n", "image.quality"),
        ("[upstream]\nurl = \"https://example.social\"\n[log]\nlevel = \"loud\"\n", "log.level"),
        ("[upstream\nurl = 1\n", "config"),
        ("", "upstream.url"),
    ])
    func badConfig(file: String, key: String) throws {
        let path = try writeConfig(file)
        for command in [["check-config", "-c", path], ["-c", path]] {
            let run = try herd(command)
            #expect(run.status == 2, "\(command) → \(run.status): \(run.errors)")
            #expect(run.errors.contains(key), "message should name \(key): \(run.errors)")
            #expect(run.errors.split(separator: "\n").count == 1, "one line: \(run.errors)")
            #expect(!run.errors.contains("Fatal error"))
        }
    }

    @Test("a bad environment value or flag exits 2 naming the key and its source")
    func badEnvironmentAndFlags() throws {
        let env = try herd(["check-config"], environment: ["UPSTREAM_URL": "gopher://x"])
        #expect(env.status == 2)
        #expect(env.errors.contains("upstream.url") && env.errors.contains("$UPSTREAM_URL"))

        let flag = try herd(["check-config", "-u", "https://example.social", "--set", "cache.ttl=-5"])
        #expect(flag.status == 2)
        #expect(flag.errors.contains("cache.ttl"))

        let unknown = try herd(["check-config", "-u", "https://example.social", "--set", "cache.nope=1"])
        #expect(unknown.status == 2)
        #expect(unknown.errors.contains("cache.nope"))

        let usage = try herd(["check-config", "--no-such-flag"])
        #expect(usage.status == 2)

        let missing = try herd(["-c", "/nonexistent-herd-test/herd.toml"])
        #expect(missing.status == 2)
        #expect(missing.errors.contains("no such file"))
    }

    @Test("a socket path that cannot be bound exits 2 naming server.bind")
    func unbindableSocket() throws {
        let run = try herd(["-u", "http://127.0.0.1:1", "-b", "/nonexistent-herd-test/dir/herd.sock"])
        #expect(run.status == 2)
        #expect(run.errors.contains("server.bind"))
        #expect(run.errors.contains("No such file or directory"))
    }

    @Test("precedence: flags over environment over file over defaults")
    func precedence() throws {
        let path = try writeConfig("""
            [upstream]
            url = "https://file.example"
            timeout = 11
            [server]
            threads = 3
            via_header = "from-file"
            """)
        let fileOnly = try herd(["check-config", "-c", path])
        #expect(fileOnly.status == 0, "\(fileOnly.errors)")
        #expect(fileOnly.output.contains("url = \"https://file.example\""))
        #expect(fileOnly.output.contains("timeout = 11"))
        #expect(fileOnly.output.contains("threads = 3"))
        #expect(fileOnly.output.contains("connect_timeout = 3"), "defaults fill the rest")

        let environment = ["UPSTREAM_URL": "https://env.example", "HERD_UPSTREAM_TIMEOUT": "22", "HERD_CONFIG": path]
        let withEnv = try herd(["check-config"], environment: environment)
        #expect(withEnv.status == 0, "\(withEnv.errors)")
        #expect(withEnv.output.contains("url = \"https://env.example\""))
        #expect(withEnv.output.contains("timeout = 22"))
        #expect(withEnv.output.contains("via_header = \"from-file\""))

        let withFlags = try herd(["check-config", "-u", "https://flag.example", "--set", "upstream.timeout=33",
                                  "--disable-avif", "--no-preserve-headers", "--threads", "5"], environment: environment)
        #expect(withFlags.status == 0, "\(withFlags.errors)")
        #expect(withFlags.output.contains("url = \"https://flag.example\""))
        #expect(withFlags.output.contains("timeout = 33"))
        #expect(withFlags.output.contains("enable_avif = false"))
        #expect(withFlags.output.contains("preserve_upstream_headers = false"))
        #expect(withFlags.output.contains("threads = 5"))
    }

    @Test("lists: a TOML array in the file, comma-separated in the environment; a bad CIDR is named; secrets never printed")
    func listsAndSecrets() throws {
        let path = try writeConfig("""
            [upstream]
            url = "https://file.example"
            [remote]
            allow_networks = ["10.1.0.0/16", "fd00:1::/64"]
            blocked_domains = ["bad.example"]
            [media_proxy]
            secret_key_base = "very-secret-key-base-value"
            """)
        let file = try herd(["check-config", "-c", path])
        #expect(file.status == 0, "\(file.errors)")
        #expect(file.output.contains("allow_networks = [\"10.1.0.0/16\", \"fd00:1::/64\"]"))
        #expect(file.output.contains("blocked_domains = [\"bad.example\"]"))
        #expect(!file.output.contains("very-secret-key-base-value"))
        #expect(file.output.contains("secret_key_base = \"(set, not shown)\""))

        let environment = try herd(["check-config", "-c", path],
                                   environment: ["HERD_REMOTE_ALLOW_NETWORKS": "127.0.0.2/32, 127.0.0.3/32", "HERD_CAMO_KEY": "k"])
        #expect(environment.status == 0, "\(environment.errors)")
        #expect(environment.output.contains("allow_networks = [\"127.0.0.2/32\", \"127.0.0.3/32\"]"))
        #expect(environment.output.contains("key = \"(set, not shown)\""))

        let bad = try herd(["check-config", "-c", path], environment: ["HERD_REMOTE_ALLOW_NETWORKS": "10.0.0.0/33"])
        #expect(bad.status == 2)
        #expect(bad.errors.contains("remote.allow_networks"))
        #expect(bad.errors.contains("10.0.0.0/33"))
        let wrongType = try writeConfig("""
            [upstream]
            url = "https://file.example"
            [remote]
            allow_networks = [1, 2]
            """)
        let typed = try herd(["check-config", "-c", wrongType])
        #expect(typed.status == 2)
        #expect(typed.errors.contains("remote.allow_networks"))
    }

    @Test("nothing but an origin is enough")
    func onlyAnOrigin() throws {
        let run = try herd(["check-config"], environment: ["UPSTREAM_URL": "https://example.social"])
        #expect(run.status == 0, "\(run.errors)")
        #expect(run.output.contains("configuration OK"))
    }

    @Test("the shipped config.example.toml is valid and states every default")
    func exampleConfig() throws {
        let example = Paths.repository.appendingPathComponent("config.example.toml").path
        let run = try herd(["check-config", "-c", example])
        #expect(run.status == 0, "\(run.errors)")
        // Every key the example sets must equal the built-in default, so the
        // file documents the defaults truthfully.
        let defaults = try herd(["check-config", "-u", "https://mastodon.example"])
        #expect(run.output.split(separator: "\n").dropFirst() == defaults.output.split(separator: "\n").dropFirst())
    }

    @Test("-V and --version print the version; -h prints help")
    func versionAndHelp() throws {
        for flag in ["-V", "--version"] {
            let run = try herd([flag])
            #expect(run.status == 0)
            #expect(run.output.hasPrefix("herd "))
        }
        let help = try herd(["-h"])
        #expect(help.status == 0)
        #expect(help.output.contains("check-config"))
        let serveHelp = try herd(["serve", "--help"])
        #expect(serveHelp.output.contains("--upstream"))
        #expect(serveHelp.output.contains("--enable-avif"))
    }
}
