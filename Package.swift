// swift-tools-version: 6.0
// Herd: a media and caching layer for fediverse servers.
// C libraries are fenced into system-library targets (C…); only the modules
// that wrap one import it (FastCGI: libfcgi, Upstream: libcurl, Imaging: the
// codecs), and System is the one module that calls libc and CSystemShims
// for everyone else. Basics holds pure values every module shares (HTTP
// failures and text, percent-encoding, a hash). Media, Remote's rules,
// Negotiation, Coalescing, Settings, Herd and the executable import no C.
import PackageDescription

let package = Package(
    name: "herd",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "herd", targets: ["herd"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.0.0"),
        .package(url: "https://github.com/LebJe/TOMLKit", from: "0.6.0"),
        .package(url: "https://github.com/apple/swift-crypto", from: "3.12.0"),
    ],
    targets: [
        // MARK: C libraries (Debian: libfcgi-dev, libcurl4-openssl-dev)
        .systemLibrary(
            name: "CFastCGI",
            pkgConfig: "fcgi",
            providers: [.apt(["libfcgi-dev"])]
        ),
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"])]
        ),

        .systemLibrary(name: "CTurboJPEG", pkgConfig: "libturbojpeg", providers: [.apt(["libturbojpeg0-dev"])]),
        .systemLibrary(name: "CPNG", pkgConfig: "libpng", providers: [.apt(["libpng-dev"])]),
        .systemLibrary(name: "CWebP", pkgConfig: "libwebpmux", providers: [.apt(["libwebp-dev"])]),
        .systemLibrary(name: "CAVIF", pkgConfig: "libavif", providers: [.apt(["libavif-dev"])]),
        .systemLibrary(name: "CGIF", providers: [.apt(["libgif-dev"])]),
        .systemLibrary(name: "CZlib", pkgConfig: "zlib", providers: [.apt(["zlib1g-dev"])]),
        .systemLibrary(name: "CJXL", pkgConfig: "libjxl", providers: [.apt(["libjxl-dev"])]),
        .systemLibrary(name: "CHEIF", pkgConfig: "libheif", providers: [.apt(["libheif-dev"])]),

        // glibc GNU extensions, compiled with _GNU_SOURCE in their own C target.
        .target(name: "CSystemShims"),
        // The one Swift module that calls libc and CSystemShims outside the
        // C-wrapping ones: EINTR and errors, signals, malloc tuning, threads,
        // clocks and dates, locks, openat2 below a root, bounded child processes.
        .target(name: "System", dependencies: ["CSystemShims"]),

        // MARK: Modules that import C
        .target(
            name: "FastCGI",
            dependencies: ["CFastCGI", "CSystemShims", "System", "Basics"]
        ),
        .target(
            name: "Upstream",
            dependencies: ["CCurl", "System", "Basics", .product(name: "Crypto", package: "swift-crypto")]
        ),
        .target(
            name: "Imaging",
            dependencies: ["CTurboJPEG", "CPNG", "CWebP", "CAVIF", "CGIF", "CZlib", "CJXL", "CHEIF", "System", "Basics"]
        ),

        // MARK: Pure Swift
        .target(name: "Basics"),
        .target(name: "Negotiation", dependencies: ["Basics"]),
        .target(name: "Coalescing", dependencies: ["System", "Basics"]),
        // Remote media: the connect-time address guard, remote URLs and the
        // signed URLs that name them (Akkoma's /proxy/, go-camo's), all
        // checked before any network activity; the remote fetcher (redirects
        // followed and checked hop by hop, failures remembered, the remote's
        // head allowed in by name).
        .target(name: "Remote", dependencies: ["System", "Basics", "Upstream", .product(name: "Crypto", package: "swift-crypto")]),
        // The configuration's values and defaults (what every part reads;
        // loading them is Herd's).
        .target(name: "Settings", dependencies: ["System", "Basics", "FastCGI", "Imaging", "Negotiation"]),
        // The media path: request → source → fetch → answer → reply, the
        // headers herd sends, sharing and conversion; no C, no process wiring.
        .target(
            name: "Media",
            dependencies: [
                "System", "Basics", "Settings", "FastCGI", "Upstream", "Imaging", "Negotiation", "Coalescing", "Remote",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Crypto", package: "swift-crypto"),
            ]
        ),
        // Wiring: configuration loading, the worker process, metrics, logging,
        // the operator tools' logic (purge).
        .target(
            name: "Herd",
            dependencies: [
                "System",
                "Basics",
                "Settings",
                "Media",
                "FastCGI",
                "Upstream",
                "Imaging",
                "Negotiation",
                "Remote",
                // MD5 of nginx's cache keys (herd purge).
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "TOMLKit", package: "TOMLKit"),
            ]
        ),
        // The executable: the command line (serve, check-config, convert,
        // nginx-map, purge, decode-heif).
        .executableTarget(
            name: "herd",
            dependencies: [
                "Herd", "Settings", "Media", "System", "Basics", "Imaging", "Negotiation", "FastCGI",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),

        // MARK: Tests
        // What every test target shares: test images made from known pixels
        // with the real C libraries, waiting, a raw HTTP client, loopback listeners.
        .target(
            name: "HerdTestSupport",
            dependencies: ["Imaging", "CTurboJPEG", "CPNG", "CGIF", "CWebP", "CAVIF", "CJXL", "CHEIF"],
            path: "Tests/Support"
        ),
        // One unit-test target per module with unit tests.
        .testTarget(name: "SystemTests", dependencies: ["System", "HerdTestSupport"]),
        .testTarget(name: "FastCGITests", dependencies: ["FastCGI"]),
        .testTarget(name: "UpstreamTests", dependencies: ["Upstream", "Basics"]),
        .testTarget(name: "ImagingTests", dependencies: ["Imaging", "HerdTestSupport", "CZlib"]),
        .testTarget(name: "NegotiationTests", dependencies: ["Negotiation"]),
        .testTarget(name: "CoalescingTests", dependencies: ["Coalescing"]),
        .testTarget(name: "RemoteTests", dependencies: ["Remote", "Upstream", "Basics", "HerdTestSupport"]),
        .testTarget(
            name: "MediaTests",
            dependencies: ["Media", "Settings", "Herd", "System", "Basics", "FastCGI", "Upstream", "Imaging", "Negotiation",
                           "Coalescing", "Remote", "HerdTestSupport", .product(name: "Logging", package: "swift-log")]
        ),
        .testTarget(name: "HerdTests", dependencies: ["Herd", "Media", "Settings"]),
        .testTarget(
            name: "IntegrationTests",
            dependencies: ["herd", "Herd", "Media", "Settings", "System", "Basics", "Imaging", "Remote", "HerdTestSupport",
                           .product(name: "Crypto", package: "swift-crypto")],
            // Run as subprocesses: headless Chromium (BrowserTests), systemd's
            // socket activation (SocketActivationTests).
            exclude: ["Harness/browser-decode.py", "Harness/socket-activate.py", "Harness/tls-get.py"]
        ),
    ],
    swiftLanguageModes: [.v6]
)

// MARK: - Fuzzing (make fuzz; scripts/fuzz.sh)
// libFuzzer targets for herd's own parsers (Fuzz/<Target>/), declared only
// when HERD_FUZZ is set, so `swift build` and `make test` never see them.
// scripts/fuzz.sh builds them one product at a time into .build-fuzz with
// `--sanitize=fuzzer -Xswiftc -sanitize=fuzzer,address`; libFuzzer supplies
// `main`, each target its `LLVMFuzzerTestOneInput`.
if Context.environment["HERD_FUZZ"] != nil {
    let fuzzTargets: [(name: String, product: String, dependencies: [Target.Dependency])] = [
        ("FuzzRequestTarget", "fuzz-request-target", ["Media", "Settings"]),
        ("FuzzAccept", "fuzz-accept", ["Negotiation"]),
        ("FuzzJPEGSegments", "fuzz-jpeg-segments", ["Imaging"]),
        ("FuzzPNGChunks", "fuzz-png-chunks", ["Imaging"]),
        ("FuzzGIFStructure", "fuzz-gif-structure", ["Imaging"]),
        ("FuzzProbe", "fuzz-probe", ["Imaging"]),
        ("FuzzConfigValue", "fuzz-config-value", ["Herd", "Media", "Settings", .product(name: "TOMLKit", package: "TOMLKit")]),
        ("FuzzConfigLoader", "fuzz-config-loader", ["Herd", "Media", "Settings"]),
        ("FuzzResponseHead", "fuzz-response-head", ["Upstream"]),
        ("FuzzRemoteURL", "fuzz-remote-url", ["Media", "Remote", "Settings", "System", "Basics"]),
    ]
    for target in fuzzTargets {
        package.targets.append(.executableTarget(
            name: target.name,
            dependencies: target.dependencies,
            path: "Fuzz/\(target.name)",
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ))
        package.products.append(.executable(name: target.product, targets: [target.name]))
    }
}
