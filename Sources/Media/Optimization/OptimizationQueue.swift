/// One optimizable answer: a source (as the source cache names it) and the
/// ETag base of one variant of it, which already holds the source's digest,
/// the variant and the encoder settings.
struct OptimizationKey: Hashable, Sendable {
    var source: String
    var tag: String
}

/// Which answers get optimized, and in what order: a pure state machine
/// (no clock, no threads; the optimizer drives it under a lock).
///
/// Popularity decides. A first answer goes out with a short lifetime and
/// is only *remembered*; when the same answer is asked for again after that
/// lifetime (nginx revalidates it, or a new miss), it is queued. An answer
/// whose short lifetime ends with nobody asking is never optimized.
///
/// Bounded in entries everywhere: what is remembered (the oldest forgotten
/// first), what waits (the newest refused when full: the queue holds what
/// was popular first), and what was settled (optimized, or found not worth
/// it: not queued again until forgotten).
struct OptimizationQueue<Job> {
    let capacity: Int
    let memory: Int
    /// The most bytes the waiting jobs may hold together (their sources).
    let maxBytes: Int
    private let weight: (Job) -> Int
    private var waitingBytes = 0

    private var remembered: [OptimizationKey: Int] = [:]
    private var rememberedOrder: [(OptimizationKey, Int)] = []
    private var waiting: [(OptimizationKey, Job)] = []
    private var waitingKeys: Set<OptimizationKey> = []
    private var running: Set<OptimizationKey> = []
    private var settled: [OptimizationKey: Int] = [:]
    /// Of the settled, those that were optimized and kept.
    private var kept: Set<OptimizationKey> = []
    private var settledOrder: [(OptimizationKey, Int)] = []
    private var stamp = 0

    init(capacity: Int, memory: Int, maxBytes: Int = .max, weight: @escaping (Job) -> Int = { _ in 0 }) {
        self.capacity = max(1, capacity)
        self.memory = max(1, memory)
        self.maxBytes = maxBytes
        self.weight = weight
    }

    /// What came of an answer that was optimized: nil while it was not
    /// (or was forgotten since).
    enum Outcome: Equatable {
        /// A smaller answer was stored.
        case kept
        /// Nothing better was found (or it could not be tried): the first
        /// answer stays the answer, with the full lifetime.
        case notKept
    }

    func outcome(_ key: OptimizationKey) -> Outcome? {
        guard settled[key] != nil else { return nil }
        return kept.contains(key) ? .kept : .notKept
    }

    enum Sighting: Equatable {
        /// First seen: remembered, not queued.
        case remembered
        /// Seen before: queued now.
        case queued
        /// Already waiting or being optimized.
        case pending
        /// Optimized already, or not worth it.
        case settled
        /// Popular, but the queue is full: remembered still, queued on a later sighting.
        case queueFull
    }

    var depth: Int { waiting.count }
    var isRunning: Bool { !running.isEmpty }

    /// An answer was served (or revalidated). `job` is made only when the
    /// answer is queued.
    mutating func sighted(_ key: OptimizationKey, job: () -> Job?) -> Sighting {
        if settled[key] != nil { return .settled }
        if waitingKeys.contains(key) || running.contains(key) { return .pending }
        guard remembered[key] != nil else {
            remember(key)
            return .remembered
        }
        guard waiting.count < capacity else { return .queueFull }
        guard let job = job() else { return .remembered }
        guard waitingBytes + weight(job) <= maxBytes else { return .queueFull }
        remembered[key] = nil
        waiting.append((key, job))
        waitingKeys.insert(key)
        waitingBytes += weight(job)
        return .queued
    }

    /// The next answer to optimize, oldest first.
    mutating func next() -> (OptimizationKey, Job)? {
        guard !waiting.isEmpty else { return nil }
        let (key, job) = waiting.removeFirst()
        waitingKeys.remove(key)
        waitingBytes -= weight(job)
        running.insert(key)
        return (key, job)
    }

    /// Done with `key`, kept or not: not queued again.
    mutating func finished(_ key: OptimizationKey, kept wasKept: Bool) {
        running.remove(key)
        stamp += 1
        settled[key] = stamp
        if wasKept { kept.insert(key) } else { kept.remove(key) }
        settledOrder.append((key, stamp))
        Self.trim(&settled, &settledOrder, limit: memory)
        if kept.count > settled.count { kept = kept.filter { settled[$0] != nil } }
    }

    /// Given up on `key` (its source was purged meanwhile): neither settled
    /// nor waiting, so it may be optimized anew.
    mutating func abandon(_ key: OptimizationKey) {
        running.remove(key)
    }

    /// A kept answer that is no longer stored (evicted, found damaged):
    /// it may be queued again.
    mutating func unsettle(_ key: OptimizationKey) {
        settled[key] = nil
        kept.remove(key)
    }

    /// Everything about one source (a purge): its answers are new again.
    mutating func forget(source: String) {
        remembered = remembered.filter { $0.key.source != source }
        settled = settled.filter { $0.key.source != source }
        kept = kept.filter { $0.source != source }
        waiting.removeAll { $0.0.source == source }
        waitingKeys = Set(waiting.map(\.0))
        waitingBytes = waiting.reduce(0) { $0 + weight($1.1) }
    }

    private mutating func remember(_ key: OptimizationKey) {
        stamp += 1
        remembered[key] = stamp
        rememberedOrder.append((key, stamp))
        Self.trim(&remembered, &rememberedOrder, limit: memory)
    }

    /// Keeps the newest `limit` entries; the order list holds stale stamps
    /// of entries renewed or removed, skipped here.
    private static func trim(_ table: inout [OptimizationKey: Int], _ order: inout [(OptimizationKey, Int)], limit: Int) {
        while table.count > limit, !order.isEmpty {
            let (key, stamp) = order.removeFirst()
            if table[key] == stamp { table[key] = nil }
        }
        if order.count > limit * 2 { order = order.filter { table[$0.0] == $0.1 } }
    }
}
