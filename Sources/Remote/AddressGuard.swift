import Basics
/// Decides whether herd may open a connection to an address on behalf of a
/// remote URL. It judges the address libcurl is about to connect to (after
/// DNS, at connect time), so no spelling of a host and no DNS answer that
/// changes between a check and the connect can reach a refused address.
///
/// Refused: every range that is not the public internet (RFC 6890 and its
/// successors), and IPv6 forms that carry an IPv4 address (mapped,
/// compatible, 6to4, NAT64, Teredo) when the carried address is refused —
/// unless the address lies in one of the admin's `remote.allow_networks`.
public struct AddressGuard: Sendable {
    public enum Verdict: Equatable, Sendable {
        case allowed
        /// Refused, with the class of the address (a metric label and log field).
        case refused(AddressClass)
    }

    public let allowNetworks: [IPNetwork]

    public init(allowNetworks: [IPNetwork] = []) {
        self.allowNetworks = allowNetworks
    }

    public func verdict(for address: IPAddress) -> Verdict {
        if allowNetworks.contains(where: { $0.contains(address) }) { return .allowed }
        let kind = AddressClass.of(address)
        return kind == .global ? .allowed : .refused(kind)
    }
}

/// What kind of address it is, for the guard.
public enum AddressClass: String, Sendable, CaseIterable {
    case global
    case unspecified, loopback, privateUse = "private", sharedCGNAT = "cgnat", linkLocal = "link_local"
    case multicast, broadcast, reserved, benchmarking, documentation
    case thisNetwork = "this_network", protocolAssignments = "protocol_assignments"
    case uniqueLocal = "unique_local", siteLocal = "site_local", discardOnly = "discard_only"

    private static let v4Ranges: [(IPNetwork, AddressClass)] = networks([
        // Most specific first: the first range that holds the address names it.
        ("255.255.255.255/32", .broadcast), ("0.0.0.0/8", .thisNetwork), ("10.0.0.0/8", .privateUse), ("100.64.0.0/10", .sharedCGNAT),
        ("127.0.0.0/8", .loopback), ("169.254.0.0/16", .linkLocal), ("172.16.0.0/12", .privateUse),
        ("192.0.0.0/24", .protocolAssignments), ("192.0.2.0/24", .documentation), ("192.88.99.0/24", .reserved),
        ("192.168.0.0/16", .privateUse), ("198.18.0.0/15", .benchmarking), ("198.51.100.0/24", .documentation),
        ("203.0.113.0/24", .documentation), ("224.0.0.0/4", .multicast), ("240.0.0.0/4", .reserved),
    ])

    private static let v6Ranges: [(IPNetwork, AddressClass)] = networks([
        ("::/128", .unspecified), ("::1/128", .loopback), ("100::/64", .discardOnly),
        ("2001:2::/48", .benchmarking), ("2001:db8::/32", .documentation), ("3fff::/20", .documentation),
        ("2001::/23", .protocolAssignments), ("fc00::/7", .uniqueLocal), ("fe80::/10", .linkLocal),
        ("fec0::/10", .siteLocal), ("ff00::/8", .multicast),
        // Local-use NAT64 (RFC 8215): deployed with any RFC 6052 prefix
        // length inside the /48, so the IPv4 address it carries cannot be
        // read reliably; it leads into a local network: refused whole.
        ("64:ff9b:1::/48", .reserved),
    ])

    private static func networks(_ table: [(String, AddressClass)]) -> [(IPNetwork, AddressClass)] {
        table.map { (IPNetwork($0.0)!, $0.1) }
    }

    public static func of(_ address: IPAddress) -> AddressClass {
        switch address {
        case .v4(let value):
            if value == 0 { return .unspecified }
            return v4Ranges.first { $0.0.contains(address) }?.1 ?? .global
        case .v6(let value):
            // An IPv4 address carried inside IPv6 is judged as itself.
            if let carried = embeddedIPv4(value) {
                let kind = of(.v4(carried))
                return kind == .global ? .global : kind
            }
            if let kind = v6Ranges.first(where: { $0.0.contains(address) })?.1 { return kind }
            // Only 2000::/3 is global unicast; the rest is unassigned.
            return value >> 125 == 1 ? .global : .reserved
        }
    }

    /// The IPv4 address in an IPv6 form that carries one.
    static func embeddedIPv4(_ value: UInt128) -> UInt32? {
        let low32 = UInt32(truncatingIfNeeded: value)
        if value >> 32 == 0xffff { return low32 }                          // ::ffff:0:0/96, mapped
        if value >> 32 == 0, value > 1 { return low32 }                    // ::/96, compatible (not :: or ::1)
        if value >> 32 == 0xffff_0000 { return low32 }                     // ::ffff:0:0:0/96, SIIT
        if value >> 112 == 0x2002 { return UInt32(truncatingIfNeeded: value >> 80) }   // 2002::/16, 6to4
        if value >> 32 == 0x0064_ff9b_0000_0000_0000_0000 { return low32 }    // 64:ff9b::/96, NAT64
        if value >> 96 == 0x2001_0000 { return ~low32 }                    // 2001::/32, Teredo client (XOR-ed)
        return nil
    }
}
