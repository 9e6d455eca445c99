import Negotiation
import FastCGI
import Imaging
import System

/// Everything a worker can be told, with the defaults an admin gets when a
/// key is absent. Where a lower module has its own default (the encoder's
/// settings, the image limits), it is taken from there: each default is
/// written once. Each key is documented in `config.example.toml`; the table
/// in `ConfigurationKeys.swift` maps file keys, environment variables and
/// command-line flags onto these fields.
public struct HerdConfiguration: Sendable, Equatable {
    public struct Upstream: Sendable, Equatable {
        /// The origin: Mastodon's or Akkoma's base URL (or the media host).
        public var url: String = ""
        /// Media read from files below this directory instead of fetched
        /// from `url` (e.g. /home/mastodon/live/public); "" = off.
        public var root: String = ""
        /// Seconds the origin may stay silent (before answering or mid-body).
        public var timeout: Double = 20
        /// Seconds to establish a connection.
        public var connectTimeout: Double = 3
        /// Bytes per second below which a transfer is abandoned once it has
        /// been that slow for `timeout` seconds: a drip-fed body cannot hold
        /// a thread until `transferTimeout`.
        public var minSpeed: Int = 8 << 10
        /// Requests of this worker that may wait on one origin host at once
        /// (fetching, or waiting for another request's fetch); more get 503
        /// at once. 0 = three quarters of the threads: a stalled origin never
        /// takes the threads that serve cached sources and other hosts.
        public var maxFetchesPerHost: Int = 0
        /// Upper bound in seconds on one whole transfer; 0 = none.
        public var transferTimeout: Double = 600
        /// Largest body fetched; larger → 502, nothing cached.
        public var maxBodySize: Int = 256 << 20
        /// A CA bundle to verify the origin with instead of the system's.
        public var caFile: String = ""
        /// A private S3-compatible bucket: every request to `url` signed
        /// with AWS Signature Version 4 with this access key, when set.
        public var s3AccessKey: String = ""
        /// The secret key; or `s3SecretKeyFile`, a file readable only by herd
        /// (relative: below systemd's $CREDENTIALS_DIRECTORY, LoadCredential=).
        public var s3SecretKey: String = ""
        public var s3SecretKeyFile: String = ""
        /// The bucket's region, as its provider names it.
        public var s3Region: String = "us-east-1"
    }

    public struct Server: Sendable, Equatable {
        public var bind: String = "127.0.0.1:9000"
        /// Mode of a unix socket, so nginx's group can connect.
        public var socketMode: Int = 0o660
        /// Worker threads; 0 = automatic (8 per core, at least 32).
        public var threads: Int = 0
        /// Seconds in-flight requests get to finish after SIGTERM.
        public var shutdownTimeout: Double = 10
        /// Our name in the `Via` header; empty = no Via header.
        public var viaHeader: String = "herd"
        /// Keep the origin's response headers (hop-by-hop and Set-Cookie are
        /// always dropped). Off: only the headers caching and ranges need.
        public var preserveUpstreamHeaders: Bool = true
        /// Cloudflare's free plan ignores `Vary`: the variant travels in `format=`.
        public var behindCloudflareFree: Bool = false
        /// Longest request URI accepted.
        public var maxURILength: Int = 2048
        /// Networks a worker bound to TCP answers (CIDR); everyone else's
        /// connection is closed unread. Loopback by default; a worker bound
        /// to another address refuses to start until this names the networks
        /// nginx connects from.
        public var allowedClients: [String] = HerdConfiguration.Server.loopbackClients

        public static let loopbackClients = ["127.0.0.0/8", "::1/128"]
    }

    public struct Cache: Sendable, Equatable {
        /// Most entries in the in-memory source cache.
        public var maxCapacity: Int = 4096
        /// Seconds a media response may be cached when the origin did not say.
        public var ttl: Int = 86_400
        /// Largest single source kept in memory.
        public var maxItemSize: Int = 16 << 20
        /// Memory the source cache may use, per worker.
        public var maxBytes: Int = 64 << 20
        /// Seconds an error response may be cached (by nginx or a browser).
        public var errorTTL: Int = 5
        /// Seconds a redirect without a lifetime of its own may be cached:
        /// short, never `ttl` (a bucket's redirect to a presigned URL must
        /// not outlive that URL). 0 = no-store.
        public var redirectTTL: Int = 60
        /// One origin fetch per source for concurrent requests, and the
        /// in-memory source cache. Off only to measure what they save.
        public var singleFlight: Bool = true
    }

    public struct Image: Sendable, Equatable {
        /// The formats sent instead of the original, first preferred, for
        /// clients that name them in Accept: jxl, avif, webp.
        public var formats: [String] = FormatPreference.standard.order.map(\.rawValue)
        /// Switch a format off whatever `formats` says (the older switches).
        public var enableAVIF: Bool = true
        public var enableWebP: Bool = true

        /// `formats` as an order, less what the switches turn off.
        public var formatPreference: FormatPreference {
            FormatPreference(formats.compactMap(NegotiatedFormat.init(rawValue:)).filter {
                ($0 != .avif || enableAVIF) && ($0 != .webp || enableWebP)
            })
        }
        /// The source formats herd decodes (jpeg, png, gif, webp, avif,
        /// heif); the others are served as they are, or refused where a
        /// conversion is the answer.
        public var decode: [String] = ImageFormat.allCases.map(\.rawValue)
        /// Encoder quality for WebP and JPEG, 1–100.
        public var quality: Int = EncoderSettings().webpQuality
        /// Per-format overrides; 0 = use `quality`.
        public var webpQuality: Int = 0
        public var jpegQuality: Int = 0
        /// AVIF's own scale: 60 looks about like JPEG 80 at half the bytes.
        public var avifQuality: Int = EncoderSettings().avifQuality
        /// libavif speed, 0 (slow, small) – 10 (fast).
        public var avifSpeed: Int = EncoderSettings().avifSpeed
        /// AV1 encoder: aom, rav1e or svt (what Debian's libavif was built with).
        public var avifCodec: String = EncoderSettings().avifCodec.rawValue
        /// cwebp -m: 0 (fast) – 6 (small).
        public var webpMethod: Int = EncoderSettings().webpMethod
        /// JPEG XL from pixels, as cjxl -q (JPEGs are recompressed losslessly).
        public var jxlQuality: Int = EncoderSettings().jxlQuality
        /// libjxl effort, 1 (fast) – 9 (small), as cjxl -e.
        public var jxlEffort: Int = EncoderSettings().jxlEffort
        /// The SSIMULACRA 2 score the background optimizer re-encodes to
        /// (`QualitySearch`): the fewest bytes that still score this.
        public var targetQuality: Int = 70
        /// Longest side of a converted image; larger ones are scaled down. 0 = no limit.
        public var maxDimension: Int = 4096
        /// Sources larger than this are passed through unconverted. Each
        /// request converting holds its source in memory: this times
        /// `server.threads` bounds that. (Mastodon and Akkoma both cap
        /// image uploads at 16 MB by default.)
        public var maxSourceBytes: Int = ImageLimits().maxSourceBytes
        /// Largest width × height decoded, read from the header first.
        public var maxPixels: Int = ImageLimits().maxPixels
        /// Most frames in an animation.
        public var maxFrames: Int = ImageLimits().maxFrames
        /// Most pixels over all of an animation's frames.
        public var maxAnimationPixels: Int = ImageLimits().maxAnimationPixels
        /// Seconds one conversion may take.
        public var timeout: Double = 10
        /// Conversions at once; 0 = one per core.
        public var workers: Int = 0
        /// Conversions that may wait for a free worker; more → 503 at once.
        public var queue: Int = 64
        /// Memory the conversions running at once may need together, by the
        /// estimate made from each source's header before decoding. One
        /// budget per worker whatever the core count, so that a worker stays
        /// well under the systemd unit's MemoryMax=1G.
        public var memoryBudget: Int = 512 << 20
        /// Threads one encoder may use.
        public var encoderThreads: Int = EncoderSettings().threads
    }

    public struct Log: Sendable, Equatable {
        /// trace, debug, info, notice, warning, error, critical.
        public var level: String = "info"
    }

    /// Akkoma's and Pleroma's signed `/proxy/` and `/proxy/preview/` URLs,
    /// answered by herd itself (off while `secretKeyBase` is empty).
    public struct MediaProxy: Sendable, Equatable {
        /// The Phoenix endpoint's `secret_key_base`, which signs the URLs.
        public var secretKeyBase: String = ""
        /// Previews fit within this many pixels a side (Akkoma: 600).
        public var previewMaxDimension: Int = 600
        /// Encoder quality of previews (Akkoma: 85).
        public var previewQuality: Int = 85
        /// Sources smaller than this are not previewed: 302 to the original
        /// (Akkoma: 100 KiB).
        public var previewMinBytes: Int = 100 << 10
        /// ffmpeg, for the first frame of a video; "" = no video previews.
        public var ffmpeg: String = "/usr/bin/ffmpeg"
        /// Seconds one video frame may take (wall clock; CPU the same).
        public var videoFrameTimeout: Double = 10
        /// Address space ffmpeg may use.
        public var videoFrameMemory: Int = 512 << 20
    }

    /// Fetches from the open internet (signed URLs): never trusted like the origin.
    public struct Remote: Sendable, Equatable {
        /// Networks fetched although the address guard would refuse them.
        public var allowNetworks: [String] = []
        /// Domains (and every name under them) never fetched.
        public var blockedDomains: [String] = []
        /// Largest remote body (Akkoma's ReverseProxy: 25 MiB).
        public var maxBodySize: Int = 25 << 20
        /// Seconds a remote may stay silent.
        public var timeout: Double = 15
        public var connectTimeout: Double = 5
        /// Upper bound on one whole remote transfer (a thread is held that long at most).
        public var transferTimeout: Double = 60
        /// Redirects herd follows itself, each hop judged by the guard.
        public var maxRedirects: Int = 3
        /// Seconds a remote URL that failed is not fetched again (Akkoma: 60).
        public var failureTTL: Int = 60
        /// Lifetime of a remote success (Akkoma: 14 days).
        public var cacheTTL: Int = 1_209_600
        /// A CA bundle to verify remotes with instead of the system's.
        public var caFile: String = ""
    }

    /// Misskey's external media proxy, `/proxy/{name}?url=…` (off by default:
    /// its URLs are unsigned, so it is an open proxy behind the guard).
    public struct Misskey: Sendable, Equatable {
        public var enabled: Bool = false
        /// WebP whatever the Accept, no Vary (for CDNs keyed on the URL alone).
        public var webpAlways: Bool = false
        /// When set, only pages of these origins (`https://misskey.example`)
        /// may use the proxy (their Origin or Referer); [] = anyone.
        public var allowedOrigins: [String] = []
        /// librsvg's rsvg-convert, which rasterizes SVG in a child process;
        /// "" = SVG refused (415).
        public var svgRasterizer: String = "/usr/bin/rsvg-convert"
    }

    /// go-camo compatible `/camo/DIGEST/URL` (off while `key` is empty).
    public struct Camo: Sendable, Equatable {
        public var key: String = ""
    }

    /// Where uploads live in request paths (`RoutePrefixes`).
    public struct Routes: Sendable, Equatable {
        public var mastodonPrefix: String = "/system"
        public var akkomaPrefix: String = "/media"
    }

    /// Where `herd purge` finds nginx's media cache (fastcgi_cache_path).
    public struct Purge: Sendable, Equatable {
        public var cacheDir: String = "/var/cache/nginx-herd/media"
        public var levels: String = "1:2"
        /// The workers' sockets, told to forget the source too; empty:
        /// every /run/herd/*.sock (the systemd pool's).
        public var sockets: [String] = []
        /// What a purge over HTTP must carry in X-Herd-Purge-Secret: inline,
        /// or in a file readable by its owner only (relative: below
        /// $CREDENTIALS_DIRECTORY). Neither set: purges over HTTP are refused.
        public var secret: String = ""
        public var secretFile: String = "/etc/herd/purge-secret"
        /// The other machines with a Herd cache (edges, media nodes), as
        /// their nginx is reached on the private network: a purge received
        /// here is relayed to each, once (`http://10.0.0.2:8080`).
        public var nodes: [String] = []
        /// Seconds after a purge over HTTP when this machine purges the URL
        /// again (0: never): what a fill under way at the first pass stored.
        public var repeatAfter: Double = 15
    }

    public var upstream = Upstream()
    public var server = Server()
    public var cache = Cache()
    public var image = Image()
    public var log = Log()
    public var mediaProxy = MediaProxy()
    public var remote = Remote()
    public var camo = Camo()
    public var misskey = Misskey()
    /// The background optimizer: fast first answers, smaller ones later.
    public struct Optimizer: Sendable, Equatable {
        public var enabled: Bool = true
        /// Where optimized answers are kept; "" = $CACHE_DIRECTORY/optimized
        /// (systemd's CacheDirectory=), else the optimizer is off.
        public var storeDir: String = ""
        public var storeMaxBytes: Int = 1 << 30
        /// Images waiting to be optimized, at most (their sources in memory).
        public var queue: Int = 32
        /// The share of all cores the optimizer may use, at most. 0.1, not
        /// more: on a 2-vCPU machine (SMT siblings) a busy optimizer slows
        /// the other core's conversions; measured by make bench-quality:
        /// 0.25 made first answers' p50 26–49 % slower, 0.1 within noise.
        public var cpuShare: Double = 0.1
        /// The lifetime of a first answer that may be optimized, in seconds.
        public var firstTTL: Int = 600
        /// First answers smaller than this are not worth optimizing.
        public var minBytes: Int = 16 << 10
    }

    public var purge = Purge()
    public var optimizer = Optimizer()
    public var routes = Routes()

    public init() {}

    /// Accept threads after resolving "automatic".
    public var effectiveThreads: Int {
        if server.threads > 0 { return server.threads }
        // Most threads wait (on the origin, on another request's fetch or
        // conversion) rather than compute; conversions have their own,
        // per-core limit. A burst is only coalesced as far as it fits here.
        return min(256, max(32, 8 * ThisProcess.coreCount))
    }

    /// Requests waiting on one origin host at once, after resolving "automatic".
    public var effectiveMaxFetchesPerHost: Int {
        upstream.maxFetchesPerHost > 0 ? upstream.maxFetchesPerHost : max(1, effectiveThreads * 3 / 4)
    }

    /// Conversions at once after resolving "automatic".
    public var effectiveImageWorkers: Int {
        image.workers > 0 ? image.workers : ThisProcess.coreCount
    }

    public var bindAddress: BindAddress {
        // Validated when the configuration was loaded.
        (try? BindAddress(parsing: server.bind)) ?? .tcp(host: "127.0.0.1", port: 9000)
    }
}
