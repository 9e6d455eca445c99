import Remote
import Upstream

/// This thread's client for remote URLs: libcurl with the address guard
/// judging every address it is about to connect to, the remote limits
/// (`[remote]`), and its own connections (never shared with the origin's).
enum RemoteClient {
    static func configuration(_ configuration: HerdConfiguration) -> UpstreamClient.Configuration {
        let remote = configuration.remote
        let guardian = AddressGuard(allowNetworks: remote.allowNetworks.compactMap { IPNetwork($0) })
        return UpstreamClient.Configuration(
            connectTimeoutMilliseconds: Int((remote.connectTimeout * 1000).rounded(.up)),
            idleTimeoutSeconds: Int(remote.timeout.rounded(.up)),
            transferTimeoutSeconds: Int(remote.transferTimeout.rounded(.up)),
            minSpeedBytesPerSecond: configuration.upstream.minSpeed,
            maxBodyBytes: remote.maxBodySize,
            userAgent: "herd/\(HerdVersion.string) (media proxy)",
            caFile: remote.caFile.isEmpty ? nil : remote.caFile,
            admitAddress: { guardian.verdict(for: IPAddress($0)) == .allowed })
    }

    /// The guard's class of a refused address, for logs and metrics.
    static func addressClass(_ address: ConnectAddress) -> String {
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
