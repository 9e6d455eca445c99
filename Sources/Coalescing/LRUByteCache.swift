/// A byte-bounded LRU map with per-entry expiry, as a pure value: the
/// caller passes the time in and holds the lock.
public struct LRUByteCache<Value> {
    public struct Entry {
        public var value: Value
        public var size: Int
        public var expiresAt: Double
    }

    public let maxBytes: Int
    public let maxItemSize: Int
    public let maxEntries: Int
    public private(set) var bytes = 0
    public private(set) var evictions = 0

    // Doubly linked list over a dictionary: O(1) touch and evict.
    private struct Node {
        var entry: Entry
        var older: String?
        var newer: String?
    }
    private var nodes: [String: Node] = [:]
    private var newest: String?
    private var oldest: String?

    public init(maxBytes: Int, maxItemSize: Int, maxEntries: Int) {
        self.maxBytes = maxBytes
        self.maxItemSize = maxItemSize
        self.maxEntries = maxEntries
    }

    public var count: Int { nodes.count }

    public enum Lookup {
        case fresh(Entry)
        /// Present but past its expiry: revalidate it, or replace it.
        case stale(Entry)
        case missing
    }

    /// Looks `key` up and marks it most recently used.
    public mutating func lookup(_ key: String, now: Double) -> Lookup {
        guard let node = nodes[key] else { return .missing }
        touch(key)
        return node.entry.expiresAt > now ? .fresh(node.entry) : .stale(node.entry)
    }

    /// Stores a value; returns false when it is too large to keep. Evicts the
    /// least recently used entries until the bounds hold.
    @discardableResult
    public mutating func store(_ key: String, value: Value, size: Int, expiresAt: Double) -> Bool {
        remove(key)
        guard size <= maxItemSize, size <= maxBytes, maxEntries > 0 else { return false }
        while let victim = oldest, bytes + size > maxBytes || nodes.count >= maxEntries {
            remove(victim)
            evictions += 1
        }
        nodes[key] = Node(entry: Entry(value: value, size: size, expiresAt: expiresAt), older: newest, newer: nil)
        if let newest { nodes[newest]?.newer = key }
        newest = key
        if oldest == nil { oldest = key }
        bytes += size
        return true
    }

    /// Gives an entry a new expiry (after the origin said 304).
    public mutating func refresh(_ key: String, expiresAt: Double) {
        nodes[key]?.entry.expiresAt = expiresAt
        touch(key)
    }

    public mutating func remove(_ key: String) {
        guard let node = nodes.removeValue(forKey: key) else { return }
        bytes -= node.entry.size
        if let older = node.older { nodes[older]?.newer = node.newer } else { oldest = node.newer }
        if let newer = node.newer { nodes[newer]?.older = node.older } else { newest = node.older }
    }

    private mutating func touch(_ key: String) {
        guard newest != key, let node = nodes[key] else { return }
        // Unlink…
        if let older = node.older { nodes[older]?.newer = node.newer } else { oldest = node.newer }
        if let newer = node.newer { nodes[newer]?.older = node.older }
        // …and put in front.
        nodes[key]?.older = newest
        nodes[key]?.newer = nil
        if let newest { nodes[newest]?.newer = key }
        newest = key
    }

    /// Keys from least to most recently used (for tests).
    public var keysOldestFirst: [String] {
        var keys: [String] = []
        var cursor = oldest
        while let key = cursor {
            keys.append(key)
            cursor = nodes[key]?.newer
        }
        return keys
    }
}
