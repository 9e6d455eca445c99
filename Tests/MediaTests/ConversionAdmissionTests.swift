import Foundation
@testable import Imaging
import Testing
import Herd
@testable import Media
import Settings

/// What a worker lets in: conversions by count and estimated bytes, and
/// requests waiting on one origin host.
@Suite("Conversion admission by memory")
struct ConversionAdmissionTests {
    @Test("a conversion waits while the budget is taken, and runs once bytes are released")
    func budget() {
        let limiter = ConversionLimiter(slots: 4, queueLimit: 4, memoryBudget: 100)
        #expect(limiter.acquire(bytes: 60, timeout: 1) == .granted)
        // Slots are free but the bytes are not: it waits, then times out.
        #expect(limiter.acquire(bytes: 60, timeout: 0.05) == .timedOut)
        #expect(limiter.acquire(bytes: 40, timeout: 1) == .granted)
        limiter.release(bytes: 60)
        #expect(limiter.acquire(bytes: 60, timeout: 1) == .granted)
        #expect(limiter.bytesInUse == 100)
    }

    @Test("one conversion larger than the whole budget is refused at once")
    func overBudget() {
        let limiter = ConversionLimiter(slots: 4, queueLimit: 4, memoryBudget: 100)
        #expect(limiter.acquire(bytes: 101, timeout: 10) == .overBudget)
        #expect(limiter.bytesInUse == 0)
    }

    @Test("the queue is bounded: beyond it, refused at once")
    func queue() {
        let limiter = ConversionLimiter(slots: 1, queueLimit: 0, memoryBudget: 100)
        #expect(limiter.acquire(bytes: 1, timeout: 1) == .granted)
        #expect(limiter.acquire(bytes: 1, timeout: 10) == .queueFull)
    }

    @Test("the estimate grows with pixels, and the JPEG decoder's scaling is counted")
    func estimate() {
        let small = SourceInfo(format: .png, width: 1000, height: 1000, frames: 1, orientation: 1, hasAlpha: false)
        let large = SourceInfo(format: .png, width: 8000, height: 5000, frames: 1, orientation: 1, hasAlpha: false)
        let a = MemoryEstimate.peakBytes(info: small, sourceBytes: 1000, output: .webp, maxDimension: 4096)
        let b = MemoryEstimate.peakBytes(info: large, sourceBytes: 1000, output: .webp, maxDimension: 4096)
        #expect(a < b)
        #expect(b >= 8000 * 5000 * 8, "a 40 MP PNG decodes to at least 8 bytes a pixel with the rescaler's copy")
        // A JPEG twice the limit decodes at half size.
        let jpeg = SourceInfo(format: .jpeg, width: 16384, height: 8192, frames: 1, orientation: 1, hasAlpha: false)
        let png = SourceInfo(format: .png, width: 16384, height: 8192, frames: 1, orientation: 1, hasAlpha: false)
        #expect(MemoryEstimate.peakBytes(info: jpeg, sourceBytes: 0, output: .jpeg, maxDimension: 4096)
                < MemoryEstimate.peakBytes(info: png, sourceBytes: 0, output: .jpeg, maxDimension: 4096) / 4)
    }
}
