import Testing
import System

/// The bounded child process HEIC decodes and video frames run in: the
/// deadline, the address-space limit and the output cap each end it.
@Suite("Bounded child process")
struct BoundedChildTests {
    static let limits = BoundedChild.Limits(memory: 1 << 30, timeout: 10, maxOutputBytes: 1 << 20)

    @Test("its stdout comes back; the input is in the file it is given")
    func output() throws {
        let ran = BoundedChild.run("cat", input: Array("hello".utf8), limits: Self.limits) { ["/bin/cat", $0] }
        #expect(try ran.get() == Array("hello".utf8))
    }

    @Test("a child still running at the deadline is killed, and says so")
    func deadline() {
        var limits = Self.limits
        limits.timeout = 0.5
        let ran = BoundedChild.run("sleep", input: [], limits: limits) { _ in ["/bin/sleep", "30"] }
        guard case .failure(let failure) = ran else { Issue.record("sleep 30 finished"); return }
        #expect(failure.description.contains("killed"), "\(failure)")
    }

    @Test("over its address space, a child fails instead of growing")
    func memory() {
        var limits = Self.limits
        limits.memory = 256 << 20
        // 512 MB in one allocation: refused under a 256 MB address space.
        let ran = BoundedChild.run("python3", input: [], limits: limits) { _ in
            ["/usr/bin/python3", "-c", "b = bytearray(512 << 20); print(len(b))"]
        }
        guard case .failure(let failure) = ran else { Issue.record("allocated 512 MB under a 256 MB limit"); return }
        #expect(failure.description.contains("exited with") || failure.description.contains("signal"), "\(failure)")
    }

    @Test("output over the cap ends it")
    func outputCap() {
        var limits = Self.limits
        limits.maxOutputBytes = 1000
        let ran = BoundedChild.run("head", input: [], limits: limits) { _ in ["/usr/bin/head", "-c", "100000", "/dev/zero"] }
        guard case .failure(let failure) = ran else { Issue.record("100 KB read under a 1000-byte cap"); return }
        #expect(failure.description.contains("output over"), "\(failure)")
    }

    @Test("a non-zero exit is a failure, with its status")
    func exitStatus() {
        let ran = BoundedChild.run("false", input: [], limits: Self.limits) { _ in ["/bin/false"] }
        guard case .failure(let failure) = ran else { Issue.record("/bin/false succeeded"); return }
        #expect(failure.description.contains("exited with 1"), "\(failure)")
    }
}
