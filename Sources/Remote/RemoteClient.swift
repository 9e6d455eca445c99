import Basics
import Upstream

/// This thread's client for remote URLs: libcurl with the address guard
/// judging every address it is about to connect to, the remote limits
/// (`[remote]`), and its own connections (never shared with the origin's).
public enum RemoteClient {
    /// The limits of `[remote]`: seconds to connect, of silence and for a
    /// whole transfer, the slowest transfer accepted, the largest body, a CA
    /// bundle (nil: the system's), and the networks let through although the
    /// guard would refuse them (CIDR; `remote.allow_networks`).
    public struct Limits: Sendable {
        public var allowNetworks: [String]
        public var connectTimeout: Double
        public var timeout: Double
        public var transferTimeout: Double
        public var minSpeed: Int
        public var maxBodySize: Int
        public var caFile: String?
        public var userAgent: String

        public init(allowNetworks: [String], connectTimeout: Double, timeout: Double, transferTimeout: Double,
                    minSpeed: Int, maxBodySize: Int, caFile: String?, userAgent: String) {
            self.allowNetworks = allowNetworks
            self.connectTimeout = connectTimeout
            self.timeout = timeout
            self.transferTimeout = transferTimeout
            self.minSpeed = minSpeed
            self.maxBodySize = maxBodySize
            self.caFile = caFile
            self.userAgent = userAgent
        }
    }

    public static func configuration(_ limits: Limits) -> UpstreamClient.Configuration {
        let guardian = AddressGuard(allowNetworks: limits.allowNetworks.compactMap { IPNetwork($0) })
        return UpstreamClient.Configuration(
            connectTimeoutMilliseconds: Int((limits.connectTimeout * 1000).rounded(.up)),
            idleTimeoutSeconds: Int(limits.timeout.rounded(.up)),
            transferTimeoutSeconds: Int(limits.transferTimeout.rounded(.up)),
            minSpeedBytesPerSecond: limits.minSpeed,
            maxBodyBytes: limits.maxBodySize,
            userAgent: limits.userAgent,
            caFile: limits.caFile,
            admitAddress: { guardian.verdict(for: IPAddress($0)) == .allowed })
    }

    /// The guard's class of a refused address, for logs and metrics.
    public static func addressClass(_ address: ConnectAddress) -> String {
        if case .unknown = address { return "unknown_family" }
        return AddressClass.of(IPAddress(address)).rawValue
    }
}

extension IPAddress {
    /// The guard's view of the address libcurl is about to connect to.
    init(_ address: ConnectAddress) {
        switch address {
        case .v4(let bytes):
            self = .v4(bytes.reduce(0) { $0 << 8 | UInt32($1) })
        case .v6(let bytes):
            self = .v6(bytes.reduce(0) { $0 << 8 | UInt128($1) })
        case .unknown:
            self = .v6(0)  // `::`, unspecified: refused
        }
    }
}
