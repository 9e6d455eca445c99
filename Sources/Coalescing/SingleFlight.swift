/// The single-flight table as a pure state machine: which keys have a
/// flight in progress, who leads it, how many wait. No locks, no clocks, no
/// I/O; `Coalescer` wraps it in a lock and does the waiting.
public struct SingleFlightStateMachine<Value> {
    public typealias FlightID = UInt64

    public enum JoinAction: Equatable {
        /// Nobody is fetching this key: the caller leads and must call `finish`.
        case lead(FlightID)
        /// A flight is under way: wait for its result.
        case wait(FlightID)
    }

    public enum Outcome {
        case success(Value)
        case failure(any Error)
    }

    private struct Flight {
        var id: FlightID
        var waiters: Int
        var outcome: Outcome?
    }

    private var flights: [String: Flight] = [:]
    private var finished: [FlightID: (outcome: Outcome, waitersLeft: Int)] = [:]
    private var nextID: FlightID = 1

    public init() {}

    /// Joins the flight for `key`, or starts one.
    public mutating func join(_ key: String) -> JoinAction {
        if var flight = flights[key] {
            flight.waiters += 1
            flights[key] = flight
            return .wait(flight.id)
        }
        let id = nextID
        nextID += 1
        flights[key] = Flight(id: id, waiters: 0, outcome: nil)
        return .lead(id)
    }

    /// The leader's result. Returns how many waiters it wakes. The key is
    /// free again at once: the next request starts a new flight (a failure
    /// is never remembered).
    @discardableResult
    public mutating func finish(_ key: String, id: FlightID, outcome: Outcome) -> Int {
        guard let flight = flights[key], flight.id == id else { return 0 }
        flights[key] = nil
        if flight.waiters > 0 {
            finished[id] = (outcome, flight.waiters)
        }
        return flight.waiters
    }

    /// A waiter's view of its flight: the outcome once there is one. Each
    /// waiter collects it once (or gives up with `abandon`).
    public mutating func collect(_ id: FlightID) -> Outcome? {
        guard var entry = finished[id] else { return nil }
        entry.waitersLeft -= 1
        finished[id] = entry.waitersLeft > 0 ? entry : nil
        return entry.outcome
    }

    /// A waiter stops waiting (its deadline passed). The flight goes on for
    /// the others; its outcome is not kept for this waiter.
    public mutating func abandon(_ key: String, id: FlightID) {
        if var flight = flights[key], flight.id == id {
            flight.waiters -= 1
            flights[key] = flight
        } else if var entry = finished[id] {
            entry.waitersLeft -= 1
            finished[id] = entry.waitersLeft > 0 ? entry : nil
        }
    }

    /// How many wait on the flight for `key` now.
    public func waiters(for key: String) -> Int { flights[key]?.waiters ?? 0 }

    /// Flights in progress and outcomes not yet collected (for tests and metrics).
    public var inFlight: Int { flights.count }
    public var uncollected: Int { finished.count }
}
