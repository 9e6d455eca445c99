import Basics
import Remote
import Testing

/// The address guard against a table of vectors: each refused range on both
/// sides of its boundaries, and every IPv6 form that carries IPv4.
@Suite("Remote address guard")
struct AddressGuardTests {
    /// (address, expected class) — `global` is allowed, anything else refused.
    static let vectors: [(String, AddressClass)] = [
        // IPv4: each special range, its first and last address, and the
        // public neighbours just outside it.
        ("0.0.0.0", .unspecified), ("0.0.0.1", .thisNetwork), ("0.255.255.255", .thisNetwork), ("1.0.0.0", .global),
        ("9.255.255.255", .global), ("10.0.0.0", .privateUse), ("10.255.255.255", .privateUse), ("11.0.0.0", .global),
        ("100.63.255.255", .global), ("100.64.0.0", .sharedCGNAT), ("100.127.255.255", .sharedCGNAT), ("100.128.0.0", .global),
        ("126.255.255.255", .global), ("127.0.0.0", .loopback), ("127.0.0.1", .loopback), ("127.255.255.255", .loopback),
        ("128.0.0.0", .global),
        ("169.253.255.255", .global), ("169.254.0.0", .linkLocal), ("169.254.169.254", .linkLocal),
        ("169.254.255.255", .linkLocal), ("169.255.0.0", .global),
        ("172.15.255.255", .global), ("172.16.0.0", .privateUse), ("172.31.255.255", .privateUse), ("172.32.0.0", .global),
        ("191.255.255.255", .global), ("192.0.0.0", .protocolAssignments), ("192.0.0.255", .protocolAssignments),
        ("192.0.1.0", .global), ("192.0.2.0", .documentation), ("192.0.2.255", .documentation), ("192.0.3.0", .global),
        ("192.88.98.255", .global), ("192.88.99.0", .reserved), ("192.88.100.0", .global),
        ("192.167.255.255", .global), ("192.168.0.0", .privateUse), ("192.168.255.255", .privateUse), ("192.169.0.0", .global),
        ("198.17.255.255", .global), ("198.18.0.0", .benchmarking), ("198.19.255.255", .benchmarking), ("198.20.0.0", .global),
        ("198.51.99.255", .global), ("198.51.100.0", .documentation), ("198.51.100.255", .documentation), ("198.51.101.0", .global),
        ("203.0.112.255", .global), ("203.0.113.0", .documentation), ("203.0.113.255", .documentation), ("203.0.114.0", .global),
        ("223.255.255.255", .global), ("224.0.0.0", .multicast), ("239.255.255.255", .multicast),
        ("240.0.0.0", .reserved), ("255.255.255.254", .reserved), ("255.255.255.255", .broadcast),
        ("8.8.8.8", .global), ("93.184.216.34", .global),
        // IPv6.
        ("::", .unspecified), ("::1", .loopback), ("2606:4700::1111", .global), ("2001:4860:4860::8888", .global),
        ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", .reserved), ("fc00::", .uniqueLocal), ("fdff:ffff::1", .uniqueLocal),
        ("fe00::", .reserved), ("fe7f:ffff::", .reserved), ("fe80::", .linkLocal), ("febf:ffff::1", .linkLocal),
        ("fec0::", .siteLocal), ("feff:ffff::1", .siteLocal), ("ff00::", .multicast), ("ff02::1", .multicast),
        ("2001:db8::", .documentation), ("2001:db8:ffff::1", .documentation), ("2001:db9::", .global),
        ("2001:2::", .benchmarking), ("2001:2:0:ffff::1", .benchmarking), ("100::", .discardOnly), ("100::ffff", .discardOnly),
        ("100:0:0:1::", .reserved), ("1fff:ffff::", .reserved), ("2000::", .global), ("3fff::", .documentation),
        ("3ffe:ffff::1", .global), ("4000::", .reserved),
        // IPv4 carried in IPv6: judged by the carried address.
        ("::ffff:127.0.0.1", .loopback), ("::ffff:7f00:1", .loopback), ("::ffff:10.1.2.3", .privateUse),
        ("::ffff:8.8.8.8", .global), ("::127.0.0.1", .loopback), ("::169.254.169.254", .linkLocal), ("::8.8.8.8", .global),
        ("::ffff:0:127.0.0.1", .loopback), ("::ffff:0:8.8.8.8", .global),
        ("2002:7f00:1::", .loopback), ("2002:c0a8:101::1", .privateUse), ("2002:808:808::1", .global),
        ("64:ff9b::127.0.0.1", .loopback), ("64:ff9b::a00:1", .privateUse), ("64:ff9b::8.8.8.8", .global),
        ("64:ff9b:1:7f00:0:100::", .reserved), ("64:ff9b:1:808:8:800::", .reserved),
        // Teredo: the client's address, XOR-ed with ones.
        ("2001:0:4136:e378:8000:63bf:80ff:fffe", .loopback), ("2001:0:4136:e378:8000:63bf:f7f7:f7f7", .global),
        ("2001:0:4136:e378:8000:63bf:f5ff:fffe", .privateUse),
    ]

    @Test("every vector: its class, and refused unless global")
    func table() throws {
        let guardian = AddressGuard()
        for (text, expected) in Self.vectors {
            let address = try #require(IPAddress(text), "\(text) does not parse")
            #expect(AddressClass.of(address) == expected, "\(text)")
            #expect(guardian.verdict(for: address) == (expected == .global ? .allowed : .refused(expected)), "\(text)")
        }
    }

    @Test("remote.allow_networks lets an admin's network through, and only it")
    func allowNetworks() throws {
        let guardian = AddressGuard(allowNetworks: [try #require(IPNetwork("127.0.0.2/32")), try #require(IPNetwork("10.20.0.0/16")),
                                                    try #require(IPNetwork("fd00:1::/32"))])
        #expect(guardian.verdict(for: IPAddress("127.0.0.2")!) == .allowed)
        #expect(guardian.verdict(for: IPAddress("127.0.0.1")!) == .refused(.loopback))
        #expect(guardian.verdict(for: IPAddress("10.20.255.1")!) == .allowed)
        #expect(guardian.verdict(for: IPAddress("10.21.0.1")!) == .refused(.privateUse))
        #expect(guardian.verdict(for: IPAddress("fd00:1:2::3")!) == .allowed)
        #expect(guardian.verdict(for: IPAddress("fd00:2::3")!) == .refused(.uniqueLocal))
        // An IPv4 network does not admit the same numbers in IPv6.
        #expect(guardian.verdict(for: IPAddress("::ffff:127.0.0.1")!) == .refused(.loopback))
    }

    @Test("strict text forms only: lenient IPv4 spellings are left to the resolver and judged after it")
    func strictParsing() {
        for text in ["127.1", "0x7f.0.0.1", "0177.0.0.1", "2130706433", "127.0.0.1.", "1.2.3.256", "1.2.3", ":::", "1::2::3",
                     "12345::", "::ffff:1.2.3", "1:2:3:4:5:6:7:8:9", "g::1", ""] {
            #expect(IPAddress(text) == nil, "\(text)")
        }
        #expect(IPAddress("1:2:3:4:5:6:7:8") == .v6(0x0001_0002_0003_0004_0005_0006_0007_0008))
        #expect(IPAddress("fe80::1%eth0") == IPAddress("fe80::1"))
        #expect(IPNetwork("10.1.2.3/8")?.description == "10.0.0.0/8")
        #expect(IPNetwork("10.0.0.0/33") == nil)
    }
}
