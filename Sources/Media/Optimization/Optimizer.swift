import Basics
import Foundation
import Imaging
import Logging
import Negotiation
import Settings
import System

/// Fast first, best later. A conversion answers at once, as always; when
/// it is worth optimizing (a still image of at least `optimizer.min_bytes`)
/// it goes out with a short lifetime (`optimizer.first_ttl`), and if it is
/// asked for again after that (nginx revalidates it, or a new miss) it is
/// queued. One background thread re-encodes queued images with the slower
/// settings and a quality search to `image.target_quality`
/// (`QualitySearch`), and keeps the result in the `OptimizedStore` when it
/// is smaller; from then on every miss and revalidation gets it, with the
/// full lifetime and its own ETag.
///
/// Bounded: the thread runs at the lowest priority (`runOnlyWhenIdle`:
/// SCHED_BATCH, nice 19), starts each step (a conversion, an encode with
/// its decode and score) only when no request converts or waits, with that
/// step's memory from the conversion budget, given back after it; it sleeps
/// after each image so that it uses at most `optimizer.cpu_share` of the
/// cores and takes no conversion slot; the queue holds at most
/// `optimizer.queue` images and a quarter of the budget in sources, the
/// store `optimizer.store_max_bytes`.
final class Optimizer: @unchecked Sendable {
    /// Part of every optimized answer's ETag and store key: bumped when
    /// the search changes what it makes.
    static let version = 1

    /// What makes an optimized answer besides its source and variant: the
    /// search's version and its target. In the ETag and the store key, so
    /// a changed `image.target_quality` makes new answers (and new ETags)
    /// instead of serving what the old target made.
    let settingsMark: String

    struct Job: Sendable {
        var source: [UInt8]
        var format: OutputFormat
        var graphic: Bool
        /// The first answer's size; nil when queued from a revalidation (the
        /// first answer is made again, as fast as the first time).
        var firstBytes: Int?
        /// Memory one step needs at its peak (a conversion, or an encode
        /// with its decode and SSIMULACRA 2 score), reserved from the
        /// conversion budget for that step only.
        var estimatedPeakBytes: Int
    }

    let store: OptimizedStore
    let firstLifetime: Int
    let minBytes: Int
    private let search: QualitySearch
    private let pipeline: ImagePipeline
    private let queue: Locked<OptimizationQueue<Job>>
    /// Purges per source since start: a job whose source was purged while
    /// it ran keeps nothing (it would put the purged answer back).
    private let purges = Locked<[String: Int]>([:])
    private let wake = ConditionLock()
    private let limiter: ConversionLimiter
    private let metrics: any MediaMetrics
    private let logger: Logger
    /// The busy share one optimizer thread may have: `cpu_share` of all cores.
    private let duty: Double

    init(configuration: HerdConfiguration, pipeline: ImagePipeline, limiter: ConversionLimiter,
         metrics: any MediaMetrics, logger: Logger, directory: String) throws {
        let optimizer = configuration.optimizer
        store = try OptimizedStore(directory: directory, maxBytes: optimizer.storeMaxBytes)
        firstLifetime = optimizer.firstTTL
        minBytes = optimizer.minBytes
        search = QualitySearch(target: Double(configuration.image.targetQuality), settings: pipeline.settings)
        settingsMark = "o\(Self.version)q\(configuration.image.targetQuality)"
        self.pipeline = pipeline
        // Waiting jobs hold their sources outside the conversion budget: at
        // most a quarter of it together.
        queue = Locked(OptimizationQueue(capacity: optimizer.queue, memory: 50_000,
                                         maxBytes: max(16 << 20, configuration.image.memoryBudget / 4),
                                         weight: { $0.source.count }))
        self.limiter = limiter
        self.metrics = metrics
        self.logger = logger
        duty = min(1, max(0.01, optimizer.cpuShare * Double(ThisProcess.coreCount)))
        metrics.optimizerStore(bytes: store.totalBytes, entries: store.entryCount)
    }

    /// Starts the background thread.
    func start() throws(SystemError) {
        try spawnThread(name: "herd-optimizer") { [self] in
            let idle = runOnlyWhenIdle()
            logger.info("optimizer started", metadata: ["low_priority": .string(idle ? "yes" : "refused"),
                                                        "cpu_share": .string(String(format: "%.2f", duty))])
            while true { runOne() }
        }
    }

    /// The ETag of the optimized answer made from a first answer's base.
    func etag(base: String, format: OutputFormat) -> String {
        "\"\(base)-\(format.rawValue)-\(settingsMark)\""
    }

    /// The store's key: the answer's, with the settings that made it.
    private func storeKey(_ key: OptimizationKey) -> OptimizationKey {
        OptimizationKey(source: key.source, tag: key.tag + "-" + settingsMark)
    }

    /// The ETag of a first answer that may be optimized.
    static func firstETag(base: String, format: OutputFormat) -> String {
        "\"\(base)-\(format.rawValue)-f\""
    }

    /// Whether an ETag (as in If-None-Match) names a first answer that may be optimized.
    static func isFirst(_ etag: String) -> Bool {
        etag.hasSuffix("-f\"")
    }

    /// Whether an ETag names an optimized answer (`…-o1q70"`), of any settings.
    static func isOptimized(_ etag: String) -> Bool {
        let tag = etag.hasSuffix("\"") ? etag.dropLast() : Substring(etag)
        guard let dash = tag.lastIndex(of: "-") else { return false }
        let last = tag[tag.index(after: dash)...]
        return last.hasPrefix("o") && last.dropFirst().first?.isNumber == true
    }

    /// The optimized answer for this source and variant, if one is stored.
    /// One kept but gone since (evicted, found damaged) may be queued again.
    func stored(_ key: OptimizationKey) -> OptimizedStore.Answer? {
        if let answer = store.answer(for: storeKey(key)) { return answer }
        queue.withLock { queue in
            if queue.outcome(key) == .kept { queue.unsettle(key) }
        }
        return nil
    }

    /// Whether this answer was optimized and nothing better was kept: the
    /// first answer is then the answer, with the full lifetime.
    func settledWithoutAnswer(_ key: OptimizationKey) -> Bool {
        queue.withLock { $0.outcome(key) == .notKept }
    }

    /// A first answer was served or revalidated: remembered the first time,
    /// queued the next. `job` makes the work (it holds the source) only then.
    func sighted(_ key: OptimizationKey, job: () -> Job?) {
        let (sighting, depth) = queue.withLock { queue in (queue.sighted(key, job: job), queue.depth) }
        if sighting == .queued {
            metrics.optimizerQueue(depth: depth)
            wake.lock()
            wake.broadcast()
            wake.unlock()
        }
    }

    /// A purge: the source's optimized answers go, and it may be optimized anew.
    func forget(source: String) {
        purges.withLock { counts in
            if counts.count > 100_000 { counts.removeAll() }  // bounded; a job older than that is rare
            counts[source, default: 0] += 1
        }
        queue.withLock { $0.forget(source: source) }
        store.remove(source: source)
        metrics.optimizerQueue(depth: queue.withLock { $0.depth })
        metrics.optimizerStore(bytes: store.totalBytes, entries: store.entryCount)
    }

    /// One image from the queue (waits for one), then the pause that keeps
    /// the thread within its CPU share.
    private func runOne() {
        var next: (OptimizationKey, Job)?
        while next == nil {
            next = queue.withLock { $0.next() }
            if next == nil {
                wake.lock()
                _ = wake.wait(until: MonotonicClock.now() + 5)
                wake.unlock()
            }
        }
        guard let (key, job) = next else { return }
        let cpu = process(key, job)
        // Busy `cpu`, then idle long enough that busy / (busy + idle) ≤ duty.
        if duty < 1 { Thread.sleep(forTimeInterval: min(60, cpu * (1 / duty - 1))) }
    }

    /// Optimizes the oldest queued image now, on the caller's thread, if
    /// there is one (tests; the background thread uses the same steps).
    func optimizeQueued() -> Bool {
        guard let (key, job) = queue.withLock({ $0.next() }) else { return false }
        _ = process(key, job)
        return true
    }

    /// Optimizes one image taken from the queue; the CPU seconds it took.
    private func process(_ key: OptimizationKey, _ job: Job) -> Double {
        metrics.optimizerQueue(depth: queue.withLock { $0.depth })
        let generation = purges.withLock { $0[key.source, default: 0] }
        let cpuStarted = ThreadCPUClock.now()
        let result: Outcome
        if job.estimatedPeakBytes > limiter.memoryBudget {
            // It could never get its memory: settled, never waited for.
            result = Outcome(outcome: "too_large")
        } else {
            result = optimize(key, job, generation: generation)
        }
        let cpu = ThreadCPUClock.now() - cpuStarted
        queue.withLock { queue in
            if result.outcome == "purged" { queue.abandon(key) } else { queue.finished(key, kept: result.outcome == "kept") }
        }
        metrics.optimized(format: job.format.rawValue, result: result.outcome, bytesSaved: result.saved, cpuSeconds: cpu)
        metrics.optimizerStore(bytes: store.totalBytes, entries: store.entryCount)
        logger.info("optimized", metadata: [
            "source": .string(String(key.source.prefix(300))), "format": .string(job.format.rawValue),
            "result": .string(result.outcome), "first_bytes": .string(job.firstBytes.map(String.init) ?? "remade"),
            "bytes": .stringConvertible(result.bytes), "quality": .stringConvertible(result.quality),
            "score": .string(String(format: "%.2f", result.score)), "cpu_s": .string(String(format: "%.2f", cpu)),
        ])
        return cpu
    }

    /// How long one image may wait for idle CPU and memory, over all its
    /// steps, before it is given up (under a steady load of conversions).
    static let jobDeadline = 600.0

    private struct Outcome {
        var outcome: String
        var bytes = 0
        var saved = 0
        var quality = 0
        var score = 0.0
    }

    private func optimize(_ key: OptimizationKey, _ job: Job, generation: Int) -> Outcome {
        let limiter = self.limiter
        let bytes = job.estimatedPeakBytes
        let deadline = MonotonicClock.now() + Self.jobDeadline
        // Each step (a conversion, an encode with its decode and score)
        // starts only when no request converts or waits, takes its memory
        // from the conversion budget then, and gives it back after: a
        // request never waits behind more than one step, and nothing is
        // held while the optimizer waits.
        func acquire() throws(ImageError) {
            while limiter.isBusy || !limiter.reserveIdle(bytes: bytes) {
                guard MonotonicClock.now() < deadline else {
                    throw ImageError(.timeout, "no idle moment in \(Int(Self.jobDeadline)) s")
                }
                Thread.sleep(forTimeInterval: 0.05)
            }
        }
        do throws(ImageError) {
            // The first answer's size (made again when not known) and the
            // prepared pixels: one step.
            func prepare() throws(ImageError) -> (firstBytes: Int, image: RasterImage) {
                try acquire()
                defer { limiter.unreserve(bytes: bytes) }
                var firstBytes = job.firstBytes ?? 0
                if job.firstBytes == nil { firstBytes = try pipeline.convert(job.source, to: job.format).bytes.count }
                return (firstBytes, try pipeline.prepare(job.source).image)
            }
            let (firstBytes, image) = try prepare()
            guard let found = try search.search(image, format: job.format, graphic: job.graphic,
                                                beforeEachEncode: acquire, afterEachEncode: { limiter.unreserve(bytes: bytes) }) else {
                return Outcome(outcome: "target_unreachable")
            }
            // Kept only when smaller than the first answer: at or above the
            // target in fewer bytes.
            guard found.bytes.count < firstBytes else {
                return Outcome(outcome: "not_smaller", bytes: found.bytes.count, quality: found.quality, score: found.score)
            }
            // A purge of the source while this ran: nothing is kept.
            let stored = store.put(storeKey(key), body: found.bytes, format: job.format, quality: found.quality, score: found.score,
                                   unless: { [purges] in purges.withLock { $0[key.source, default: 0] } != generation })
            guard stored else { return Outcome(outcome: "purged") }
            return Outcome(outcome: "kept", bytes: found.bytes.count, saved: firstBytes - found.bytes.count,
                           quality: found.quality, score: found.score)
        } catch {
            return Outcome(outcome: "failed_" + error.kind.rawValue)
        }
    }
}
