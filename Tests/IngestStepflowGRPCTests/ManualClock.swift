import Synchronization

/// A clock the tests move by hand, so no test of this target waits on real time.
///
/// - Manual (the default): `sleep` blocks until ``advance(by:)`` passes its deadline, or until
///   the sleeper is cancelled; ``untilSleepers(_:)`` waits for the code under test to be asleep.
/// - `autoAdvance`: every `sleep` jumps the clock to its deadline and returns at once, for back-off
///   loops whose delays do not matter to the test (virtual time still moves, so "how long did the
///   stream live" sees it).
final class ManualClock: Clock {
    struct Instant: InstantProtocol {
        var offset: Duration
        func advanced(by duration: Duration) -> Instant { Instant(offset: offset + duration) }
        func duration(to other: Instant) -> Duration { other.offset - offset }
        static func < (lhs: Instant, rhs: Instant) -> Bool { lhs.offset < rhs.offset }
    }

    private struct Sleeper {
        var id: Int
        var deadline: Instant
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var now = Instant(offset: .zero)
        var sleepers: [Sleeper] = []
        var nextID = 0
        /// Sleepers cancelled before they were queued.
        var cancelledEarly: Set<Int> = []
        var requested: [Duration] = []
        var watchers: [(count: Int, continuation: CheckedContinuation<Void, Never>)] = []

        mutating func readyWatchers() -> [CheckedContinuation<Void, Never>] {
            let count = sleepers.count
            let ready = watchers.filter { $0.count <= count }.map(\.continuation)
            watchers.removeAll { $0.count <= count }
            return ready
        }
    }

    private let state = Mutex(State())
    let autoAdvance: Bool

    init(autoAdvance: Bool = false) {
        self.autoAdvance = autoAdvance
    }

    var now: Instant { state.withLock { $0.now } }
    var minimumResolution: Duration { .zero }
    /// Every delay asked for, in order.
    var requested: [Duration] { state.withLock { $0.requested } }
    /// Sleepers blocked now.
    var sleeping: Int { state.withLock { $0.sleepers.count } }

    func sleep(until deadline: Instant, tolerance: Duration?) async throws {
        try Task.checkCancellation()
        if autoAdvance {
            state.withLock { state in
                state.requested.append(state.now.duration(to: deadline))
                if state.now < deadline { state.now = deadline }
            }
            await Task.yield()
            try Task.checkCancellation()
            return
        }
        let id = state.withLock { state in
            state.nextID += 1
            state.requested.append(state.now.duration(to: deadline))
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Start { case queued([CheckedContinuation<Void, Never>]), due, cancelled }
                let start: Start = state.withLock { state in
                    if state.cancelledEarly.remove(id) != nil { return .cancelled }
                    if deadline <= state.now { return .due }
                    state.sleepers.append(Sleeper(id: id, deadline: deadline, continuation: continuation))
                    return .queued(state.readyWatchers())
                }
                switch start {
                case .queued(let watchers): for watcher in watchers { watcher.resume() }
                case .due: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let sleeper: Sleeper? = state.withLock { state in
                guard let index = state.sleepers.firstIndex(where: { $0.id == id }) else {
                    state.cancelledEarly.insert(id)
                    return nil
                }
                return state.sleepers.remove(at: index)
            }
            sleeper?.continuation.resume(throwing: CancellationError())
        }
    }

    /// Moves the clock on and wakes every sleeper whose deadline has come.
    func advance(by duration: Duration) {
        let due: [Sleeper] = state.withLock { state in
            state.now = state.now.advanced(by: duration)
            let now = state.now
            let due = state.sleepers.filter { $0.deadline <= now }
            state.sleepers.removeAll { $0.deadline <= now }
            return due
        }
        for sleeper in due { sleeper.continuation.resume() }
    }

    /// Returns once at least `count` sleepers are blocked.
    func untilSleepers(_ count: Int) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now: Bool = state.withLock { state in
                if state.sleepers.count >= count { return true }
                state.watchers.append((count, continuation))
                return false
            }
            if now { continuation.resume() }
        }
    }
}

/// Wakes tests waiting for a fake's state to change: fakes call ``signal()`` on every change,
/// tests ``until(_:)`` a condition holds. No polling, no sleep; the suites' time limits catch a
/// condition that never comes.
final class Progress: Sendable {
    private struct State {
        var version = 0
        var waiters: [CheckedContinuation<Void, Never>] = []
    }

    private let state = Mutex(State())

    init() {}

    func signal() {
        let waiters = state.withLock { state in
            state.version += 1
            defer { state.waiters = [] }
            return state.waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    func until(_ condition: () -> Bool) async {
        while true {
            let seen = state.withLock { $0.version }
            if condition() { return }
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let changed = state.withLock { state in
                    if state.version != seen { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if changed { continuation.resume() }
            }
        }
    }
}

/// Blocks until the task is cancelled, then throws `CancellationError` (a fake's open stream).
func blockUntilCancelled() async throws {
    let gate = Gate()
    try await gate.wait()
}

/// A gate that opens once: ``wait()`` returns after ``open()``, or throws when cancelled.
final class Gate: Sendable {
    private struct State {
        var open = false
        var waiters: [Int: CheckedContinuation<Void, any Error>] = [:]
        var nextID = 0
        var cancelledEarly: Set<Int> = []
    }

    private let state = Mutex(State())

    func open() {
        let waiters = state.withLock { state in
            state.open = true
            defer { state.waiters = [:] }
            return Array(state.waiters.values)
        }
        for waiter in waiters { waiter.resume() }
    }

    func wait() async throws {
        try Task.checkCancellation()
        let id = state.withLock { state in
            state.nextID += 1
            return state.nextID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Start { case wait, go, cancelled }
                let start: Start = state.withLock { state in
                    if state.cancelledEarly.remove(id) != nil { return .cancelled }
                    if state.open { return .go }
                    state.waiters[id] = continuation
                    return .wait
                }
                switch start {
                case .wait: break
                case .go: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                guard let waiter = state.waiters.removeValue(forKey: id) else {
                    state.cancelledEarly.insert(id)
                    return nil as CheckedContinuation<Void, any Error>?
                }
                return waiter
            }
            waiter?.resume(throwing: CancellationError())
        }
    }
}
