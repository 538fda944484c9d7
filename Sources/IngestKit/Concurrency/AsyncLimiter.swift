import Synchronization

/// A counting gate for async work: at most `limit` bodies run at once, later callers wait in
/// FIFO order. Shared by every caller of one client so that, say, Docling never sees more than
/// DOCLING_MAX_IN_FLIGHT conversions however many requests the worker serves.
///
/// A final class over a `Mutex` rather than an actor: a task cancelled while it waits must be
/// removed from the queue synchronously, from `withTaskCancellationHandler`'s `onCancel`, which
/// cannot await an actor (and unstructured tasks are off limits). Continuations are always
/// resumed outside the lock.
package final class AsyncLimiter: Sendable {
    private struct Waiter {
        var id: UInt64
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

    /// How many bodies may run at once.
    package let limit: Int
    private let state: Mutex<State>

    /// - Parameter limit: permits; values below 1 are treated as 1 so a bad setting cannot deadlock.
    package init(limit: Int) {
        self.limit = max(1, limit)
        self.state = Mutex(State(available: max(1, limit)))
    }

    /// Runs `body` once a permit is free and gives the permit back when it ends (also on throw).
    /// - Throws: `CancellationError` when the task is cancelled while waiting; whatever `body` throws.
    package func withPermit<T: Sendable>(
        isolation: isolated (any Actor)? = #isolation,
        _ body: () async throws -> T
    ) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    /// Bodies running right now (for metrics and tests).
    package var inUse: Int { state.withLock { limit - $0.available } }

    /// Callers waiting for a permit (for metrics and tests).
    package var waiting: Int { state.withLock { $0.waiters.count } }

    /// Takes a permit, waiting in FIFO order; pair it with exactly one ``release()``. For a permit
    /// that outlives the caller's scope (the gRPC pull loop takes a slot before reading a task
    /// and the task gives it back when it ends); otherwise prefer ``withPermit(isolation:_:)``.
    /// - Throws: `CancellationError` when the task is cancelled while waiting (no permit taken).
    package func acquire() async throws {
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
                    if state.available > 0 {
                        state.available -= 1
                        state.pending.remove(id)
                        return .granted
                    }
                    state.waiters.append(Waiter(id: id, continuation: continuation))
                    return .queued
                }
                switch outcome {
                case .granted: continuation.resume()
                case .cancelled: continuation.resume(throwing: CancellationError())
                case .queued: break
                }
            }
        } onCancel: {
            let continuation: CheckedContinuation<Void, any Error>? = state.withLock { state in
                guard state.pending.remove(id) != nil else { return nil }  // already granted
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }  // not queued yet
                return state.waiters.remove(at: index).continuation
            }
            continuation?.resume(throwing: CancellationError())
        }
    }

    /// Gives back a permit taken by ``acquire()``.
    package func release() {
        let next: CheckedContinuation<Void, any Error>? = state.withLock { state in
            guard !state.waiters.isEmpty else {
                state.available += 1
                return nil
            }
            let waiter = state.waiters.removeFirst()
            state.pending.remove(waiter.id)
            return waiter.continuation
        }
        next?.resume()
    }
}
