import Synchronization

/// A counting gate for async work: at most `limit` permits are held at once, later callers wait
/// in FIFO order. Shared by every caller of one client so that, say, Docling never sees more than
/// DOCLING_MAX_IN_FLIGHT conversions however many requests the worker serves. A caller may take
/// several permits at once (a weight), which makes it a byte budget: the worker's request bodies
/// take one permit per byte (INGEST_MAX_INFLIGHT_BODY_BYTES, see ``DocumentBudget``).
///
/// A final class over a `Mutex` rather than an actor: a task cancelled while it waits must be
/// removed from the queue synchronously, from `withTaskCancellationHandler`'s `onCancel`, which
/// cannot await an actor (and unstructured tasks are off limits). Continuations are always
/// resumed outside the lock.
package final class AsyncLimiter: Sendable {
    private struct Waiter {
        var id: UInt64
        var weight: Int
        var continuation: CheckedContinuation<Void, any Error>
    }

    private struct State {
        var available: Int
        var waiters: [Waiter] = []
        /// Ids that asked for a permit and have neither got one nor been cancelled. An id that
        /// leaves this set before its continuation is queued was cancelled early.
        var pending: Set<UInt64> = []
        var nextID: UInt64 = 0
    }

    /// How many permits exist.
    package let limit: Int
    private let state: Mutex<State>

    /// - Parameter limit: permits; values below 1 are treated as 1 so a bad setting cannot deadlock.
    package init(limit: Int) {
        self.limit = max(1, limit)
        self.state = Mutex(State(available: max(1, limit)))
    }

    /// Runs `body` once `weight` permits are free (1 by default; a weight above ``limit`` takes
    /// them all, so it runs alone instead of never) and gives them back when it ends (also on throw).
    /// Waiters are served in order: a heavy one is not overtaken by lighter ones behind it.
    /// - Throws: `CancellationError` when the task is cancelled while waiting; whatever `body` throws.
    package func withPermit<T: Sendable>(
        weight: Int = 1,
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async throws -> T {
        let weight = min(max(1, weight), limit)
        try await acquire(weight)
        defer { release(weight) }
        return try await body()
    }

    /// Takes `weight` permits (clamped as in ``withPermit(weight:isolation:_:)``) for a hold that
    /// cannot be one scope, and returns how many were taken: give exactly that many back with
    /// ``release(permits:)``, on every path. Prefer ``withPermit(weight:isolation:_:)``.
    /// - Throws: `CancellationError` when the task is cancelled while waiting.
    package func acquire(weight: Int) async throws -> Int {
        let weight = min(max(1, weight), limit)
        try await acquire(weight)
        return weight
    }

    /// Gives back permits taken with ``acquire(weight:)``.
    package func release(permits: Int) {
        release(permits)
    }

    /// Takes one permit for a hold that outlives the caller's scope (the gRPC pull loop takes a
    /// slot before reading a task, and the task gives it back when it ends); pair it with exactly
    /// one ``release()``.
    /// - Throws: `CancellationError` when the task is cancelled while waiting (no permit taken).
    package func acquire() async throws { _ = try await acquire(weight: 1) }

    /// Gives back a permit taken by ``acquire()``.
    package func release() { release(permits: 1) }

    /// Permits held right now (for metrics and tests).
    package var inUse: Int { state.withLock { limit - $0.available } }

    /// Callers waiting for a permit (for metrics and tests).
    package var waiting: Int { state.withLock { $0.waiters.count } }

    private func acquire(_ weight: Int) async throws {
        try Task.checkCancellation()
        let id: UInt64 = state.withLock { state in
            let id = state.nextID
            state.nextID &+= 1
            state.pending.insert(id)
            return id
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                enum Outcome { case granted, cancelled, queued }
                let outcome: Outcome = state.withLock { state in
                    guard state.pending.contains(id) else { return .cancelled }
                    if state.waiters.isEmpty, state.available >= weight {
                        state.available -= weight
                        state.pending.remove(id)
                        return .granted
                    }
                    state.waiters.append(Waiter(id: id, weight: weight, continuation: continuation))
                    return .queued
                }
                switch outcome {
                case .granted: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .queued: break
                }
            }
        } onCancel: {
            let (cancelled, granted): (CheckedContinuation<Void, any Error>?, [CheckedContinuation<Void, any Error>]) = state.withLock { state in
                guard state.pending.remove(id) != nil else { return (nil, []) }  // already granted
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return (nil, []) }  // not queued yet
                let continuation = state.waiters.remove(at: index).continuation
                // A heavy waiter leaving the head may let lighter ones behind it start.
                return (continuation, Self.grantWaiters(&state))
            }
            cancelled?.resume(throwing: CancellationError())
            for continuation in granted { continuation.resume() }
        }
    }

    private func release(_ weight: Int) {
        let granted = state.withLock { state in
            state.available += weight
            return Self.grantWaiters(&state)
        }
        for continuation in granted { continuation.resume() }
    }

    /// Grants permits to waiters from the head of the queue while they fit; returns their
    /// continuations, to be resumed outside the lock.
    private static func grantWaiters(_ state: inout State) -> [CheckedContinuation<Void, any Error>] {
        var granted: [CheckedContinuation<Void, any Error>] = []
        while let first = state.waiters.first, first.weight <= state.available {
            state.waiters.removeFirst()
            state.available -= first.weight
            state.pending.remove(first.id)
            granted.append(first.continuation)
        }
        return granted
    }
}
