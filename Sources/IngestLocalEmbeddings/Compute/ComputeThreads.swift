import CThreadName
import Foundation
import Synchronization

/// The embedder's own threads: forward passes run here, never on Swift's cooperative pool.
///
/// Why: a forward pass is seconds of synchronous arithmetic. On the cooperative pool (one thread
/// per core) it would hold a thread the HTTP server, `/health` and every other task need, and
/// on a 2-core pod starve them. So `run` hands the work to thread 0 of this pool and suspends
/// the caller (holding no thread) until it is done; inside the work, ``parallel(_:_:)`` spreads
/// parts over all `count` threads (EMBEDDING_THREADS bounds the threads doing arithmetic).
///
/// The threads are named `ingest-embed-<i>` (visible in `top -H`, perf and the tests) and live as
/// long as the pool; work is never cancelled half-way (a batch is bounded by EMBEDDING_BATCH_SIZE).
package final class ComputeThreads: Sendable {
    /// Threads in the pool, the one that runs jobs included.
    package let count: Int
    private let state: State

    package init(count: Int, name: String = "ingest-embed") {
        self.count = max(1, count)
        self.state = State(helpers: self.count - 1)
        for index in 0..<self.count {
            let state = self.state
            let thread = Thread {
                ComputeThreads.setCurrentThreadName("\(name)-\(index)")
                if index == 0 { state.runJobs() } else { state.helperLoop() }
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    deinit { state.stop() }

    /// Runs `work` on thread 0 of the pool and returns its result; the caller suspends meanwhile.
    /// Cancelling the caller does not interrupt `work` (the caller sees its result when it ends).
    package func run<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            state.enqueue { continuation.resume(with: Result { try work() }) }
        }
    }

    /// Runs `work` on a new thread named `name` that ends with it, and returns its result; the
    /// caller suspends meanwhile. For one-off work too long for the cooperative pool that comes
    /// before a pool exists (loading and packing the model).
    package static func runOnNewThread<T: Sendable>(name: String, _ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
            let thread = Thread {
                setCurrentThreadName(name)
                continuation.resume(with: Result { try work() })
            }
            thread.stackSize = 1 << 20
            thread.start()
        }
    }

    /// Calls `body(0..<parts)` spread over all threads of the pool, and returns when all are done.
    /// Only from inside `run`'s work (thread 0): the helpers take parts while thread 0 does too.
    /// If parts throw, the other parts still run and the first error caught is rethrown here.
    package func parallel<E: Error>(_ parts: Int, _ body: (Int) throws(E) -> Void) throws(E) {
        guard parts > 1, count > 1 else {
            for part in 0..<parts { try body(part) }
            return
        }
        let failure = FirstError<E>()
        withoutActuallyEscaping(body) { body in
            let task = ParallelTask(parts: parts) { part in
                do throws(E) { try body(part) } catch { failure.keep(error) }
            }
            state.publish(task)
            task.work()
            state.waitForHelpers()
            task.release()
        }
        if let error = failure.error { throw error }
    }

    /// The first error thrown by a part of a `parallel` call.
    private final class FirstError<E: Error>: Sendable {
        private let first = Mutex<E?>(nil)
        func keep(_ error: E) { first.withLock { if $0 == nil { $0 = error } } }
        var error: E? { first.withLock { $0 } }
    }

    /// The name of the calling thread (`ingest-embed-0`, …), for tests and diagnostics.
    package static func currentThreadName() -> String {
        var buffer = [CChar](repeating: 0, count: 64)
        guard ingest_thread_name(&buffer, Int32(buffer.count)) == 0 else { return "" }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// Names the calling thread (Linux keeps 15 bytes). A name is a diagnostic: failing to set
    /// one is not an error.
    private static func setCurrentThreadName(_ name: String) {
        _ = ingest_set_thread_name(name)
    }

    /// One `parallel` call: parts are taken in order by whichever thread is free.
    private final class ParallelTask: @unchecked Sendable {
        let parts: Int
        /// Cleared by `release` once every thread is done, before `withoutActuallyEscaping` ends.
        private var body: ((Int) -> Void)?
        let next = Atomic<Int>(0)

        init(parts: Int, body: @escaping (Int) -> Void) {
            self.parts = parts
            self.body = body
        }

        func work() {
            while true {
                let part = next.wrappingAdd(1, ordering: .relaxed).oldValue
                guard part < parts, let body else { return }
                body(part)
            }
        }

        func release() { body = nil }
    }

    /// The job queue of thread 0 and the hand-off to the helpers, under one condition variable.
    private final class State: @unchecked Sendable {
        let helpers: Int
        let condition = NSCondition()
        // Guarded by `condition`.
        var jobs: [@Sendable () -> Void] = []
        var task: ParallelTask?
        var generation = 0
        var finished = 0
        var stopping = false

        init(helpers: Int) { self.helpers = helpers }

        func enqueue(_ job: @escaping @Sendable () -> Void) {
            condition.lock()
            jobs.append(job)
            condition.broadcast()
            condition.unlock()
        }

        func stop() {
            condition.lock()
            stopping = true
            condition.broadcast()
            condition.unlock()
        }

        /// Thread 0: runs jobs in order until the pool is released.
        func runJobs() {
            while true {
                condition.lock()
                while jobs.isEmpty, !stopping { condition.wait() }
                if jobs.isEmpty {
                    condition.unlock()
                    return
                }
                let job = jobs.removeFirst()
                condition.unlock()
                job()
            }
        }

        /// Thread 0, inside `parallel`: wakes every helper for `task`.
        func publish(_ task: ParallelTask) {
            condition.lock()
            self.task = task
            finished = 0
            generation += 1
            condition.broadcast()
            condition.unlock()
        }

        /// Thread 0: returns once every helper has finished the current task (so `body` is no
        /// longer referenced when `parallel` returns).
        func waitForHelpers() {
            condition.lock()
            while finished < helpers { condition.wait() }
            task = nil
            condition.unlock()
        }

        /// Helpers: wait for a task, take parts of it, report, repeat.
        func helperLoop() {
            var seen = 0
            while true {
                condition.lock()
                while generation == seen, !stopping { condition.wait() }
                if stopping, generation == seen {
                    condition.unlock()
                    return
                }
                seen = generation
                let task = self.task
                condition.unlock()
                task?.work()
                condition.lock()
                finished += 1
                condition.broadcast()
                condition.unlock()
            }
        }
    }
}
