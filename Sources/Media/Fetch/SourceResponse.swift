import Basics
import Upstream

/// A whole origin response: what the source cache keeps and what a
/// coalesced fetch hands to every waiter.
struct SourceResponse: Sendable {
    var head: UpstreamResponseHead
    var body: [UInt8]
    /// Where the bytes came from (`X-Herd-Source`).
    var provenance: Source.Kind = .origin
    /// What the bytes are, whatever the origin's ETag claims: part of every
    /// ETag and conversion key made from them. Computed when one is needed
    /// (a conversion, herd's own conditional), not for every original.
    var digest: UInt64 { SourceHash.fnv1a(body) }
}
