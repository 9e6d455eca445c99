import Coalescing
import Testing

/// The single-flight table and the byte-bounded LRU, with no I/O and no clock.
@Suite("Single flight")
struct SingleFlightTests {
    struct Failure: Error {}

    @Test("the first caller leads, the rest wait, all get the leader's value")
    func shared() {
        var machine = SingleFlightStateMachine<Int>()
        guard case .lead(let id) = machine.join("a") else { Issue.record("first must lead"); return }
        let second = machine.join("a")
        let third = machine.join("a")
        #expect(second == .wait(id))
        #expect(third == .wait(id))
        guard case .lead = machine.join("b") else { Issue.record("another key leads on its own"); return }
        let woken = machine.finish("a", id: id, outcome: .success(42))
        #expect(woken == 2)
        for _ in 0..<2 {
            guard case .success(let value) = machine.collect(id) else { Issue.record("waiter got nothing"); return }
            #expect(value == 42)
        }
        let again = machine.collect(id)
        #expect(again == nil, "collected once per waiter, then forgotten")
        #expect(machine.uncollected == 0)
    }

    @Test("a failure reaches every waiter at once and is not remembered")
    func failure() {
        var machine = SingleFlightStateMachine<Int>()
        guard case .lead(let id) = machine.join("a") else { return }
        _ = machine.join("a")
        let woken = machine.finish("a", id: id, outcome: .failure(Failure()))
        #expect(woken == 1)
        guard case .failure = machine.collect(id) else { Issue.record("the waiter must see the failure"); return }
        guard case .lead(let next) = machine.join("a") else { Issue.record("the next request must fetch again"); return }
        #expect(next != id)
    }

    @Test("a waiter that gives up does not stop the flight or leak its result")
    func abandon() {
        var machine = SingleFlightStateMachine<Int>()
        guard case .lead(let id) = machine.join("a") else { return }
        _ = machine.join("a")
        _ = machine.join("a")
        machine.abandon("a", id: id)
        let woken = machine.finish("a", id: id, outcome: .success(1))
        #expect(woken == 1)
        let collected = machine.collect(id)
        #expect(collected != nil)
        #expect(machine.uncollected == 0)
        // Giving up after the result arrived also releases it.
        guard case .lead(let second) = machine.join("b") else { return }
        _ = machine.join("b")
        machine.finish("b", id: second, outcome: .success(2))
        machine.abandon("b", id: second)
        #expect(machine.uncollected == 0)
    }
}
