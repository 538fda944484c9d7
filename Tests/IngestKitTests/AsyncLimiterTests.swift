import IngestKit
import Synchronization
import Testing

@Suite("Async limiter")
struct AsyncLimiterTests {
    @Test func boundsConcurrentBodies() async throws {
        let limiter = AsyncLimiter(limit: 3)
        let active = Probe()
        try await withThrowingTaskGroup(of: Void.self) { group in
            for _ in 0..<20 {
                group.addTask {
                    try await limiter.withPermit {
                        active.enter()
                        try await Task.sleep(for: .milliseconds(2))
                        active.leave()
                    }
                }
            }
            try await group.waitForAll()
        }
        #expect(active.peak == 3)
        #expect(limiter.inUse == 0)
        #expect(limiter.waiting == 0)
    }

    @Test func releasesThePermitWhenTheBodyThrows() async throws {
        let limiter = AsyncLimiter(limit: 1)
        struct Boom: Error {}
        await #expect(throws: Boom.self) { try await limiter.withPermit { throw Boom() } }
        #expect(try await limiter.withPermit { 42 } == 42)
        #expect(limiter.inUse == 0)
    }

    @Test func waitersAreServedInOrder() async throws {
        let limiter = AsyncLimiter(limit: 1)
        let order = Probe()
        let (release, releaser) = AsyncStream<Void>.makeStream()
        try await withThrowingTaskGroup(of: Void.self) { group in
            // Hold the only permit until every waiter has queued.
            group.addTask { try await limiter.withPermit { for await _ in release {} } }
            while limiter.inUse < 1 { await Task.yield() }
            for index in 0..<5 {
                group.addTask { try await limiter.withPermit { order.record(index) } }
                while limiter.waiting < index + 1 { await Task.yield() }
            }
            releaser.finish()
            try await group.waitForAll()
        }
        #expect(order.recorded == [0, 1, 2, 3, 4])
    }

    @Test func cancelledWaiterLeavesTheQueue() async throws {
        let limiter = AsyncLimiter(limit: 1)
        try await limiter.withPermit {
            await withTaskGroup(of: Result<Void, any Error>.self) { group in
                group.addTask {
                    do { return .success(try await limiter.withPermit {}) } catch { return .failure(error) }
                }
                while limiter.waiting < 1 { await Task.yield() }
                group.cancelAll()
                let result = await group.next()
                if case .failure(let error)? = result {
                    #expect(error is CancellationError)
                } else {
                    Issue.record("the cancelled waiter should have thrown")
                }
            }
            #expect(limiter.waiting == 0)
        }
        #expect(limiter.inUse == 0)
    }

    @Test func cancelledBeforeWaitingThrowsAtOnce() async throws {
        let limiter = AsyncLimiter(limit: 1)
        await withTaskGroup(of: Void.self) { group in
            group.cancelAll()
            group.addTask {
                await #expect(throws: CancellationError.self) { try await limiter.withPermit {} }
            }
        }
        #expect(limiter.inUse == 0)
    }
}

/// Counts bodies running at once and records values, shared by concurrent test tasks.
private final class Probe: Sendable {
    private let state = Mutex((now: 0, peak: 0, recorded: [Int]()))
    func enter() { state.withLock { $0.now += 1; $0.peak = max($0.peak, $0.now) } }
    func leave() { state.withLock { $0.now -= 1 } }
    func record(_ value: Int) { state.withLock { $0.recorded.append(value) } }
    var peak: Int { state.withLock { $0.peak } }
    var recorded: [Int] { state.withLock { $0.recorded } }
}
