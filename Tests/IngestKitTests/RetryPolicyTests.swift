import IngestKit
import Synchronization
import Testing

@Suite("Retry policy")
struct RetryPolicyTests {
    let policy = RetryPolicy(maxAttempts: 5, baseDelay: .milliseconds(100), maxDelay: .seconds(1), maxElapsed: .seconds(10))

    @Test func backsOffExponentiallyWithJitterAroundTheMiddle() {
        #expect(policy.delay(afterAttempt: 1, elapsed: .zero, jitter: 0.5) == .milliseconds(100))
        #expect(policy.delay(afterAttempt: 2, elapsed: .zero, jitter: 0.5) == .milliseconds(200))
        #expect(policy.delay(afterAttempt: 3, elapsed: .zero, jitter: 0.5) == .milliseconds(400))
        #expect(policy.delay(afterAttempt: 1, elapsed: .zero, jitter: 0) == .milliseconds(50))
        #expect(policy.delay(afterAttempt: 1, elapsed: .zero, jitter: 0.999)! < .milliseconds(150))
    }

    @Test func delayNeverExceedsMaxDelay() {
        #expect(policy.delay(afterAttempt: 4, elapsed: .zero, jitter: 0.99) == .seconds(1))
        #expect(RetryPolicy(maxAttempts: 100).delay(afterAttempt: 90, elapsed: .zero, jitter: 0.9) == .seconds(30))
    }

    @Test func givesUpAfterMaxAttempts() {
        #expect(policy.delay(afterAttempt: 4, elapsed: .zero, jitter: 0.5) != nil)
        #expect(policy.delay(afterAttempt: 5, elapsed: .zero, jitter: 0.5) == nil)
        #expect(RetryPolicy.singleAttempt.delay(afterAttempt: 1, elapsed: .zero, jitter: 0.5) == nil)
    }

    @Test func givesUpWhenTheWaitWouldPassMaxElapsed() {
        #expect(policy.delay(afterAttempt: 1, elapsed: .milliseconds(9_900), jitter: 0.5) == .milliseconds(100))
        #expect(policy.delay(afterAttempt: 1, elapsed: .milliseconds(9_950), jitter: 0.5) == nil)
    }

    @Test func honoursRetryAfterUpToMaxDelay() {
        #expect(policy.delay(afterAttempt: 1, elapsed: .zero, retryAfter: .milliseconds(700), jitter: 0.5) == .milliseconds(700))
        #expect(policy.delay(afterAttempt: 1, elapsed: .zero, retryAfter: .seconds(60), jitter: 0.5) == .seconds(1))
    }

    @Test func parsesRetryAfterSeconds() {
        #expect(RetryPolicy.parseRetryAfter("1") == .seconds(1))
        #expect(RetryPolicy.parseRetryAfter(" 0.25 ") == .milliseconds(250))
        #expect(RetryPolicy.parseRetryAfter("1e300") == .seconds(86_400))
        #expect(RetryPolicy.parseRetryAfter("-1") == nil)
        #expect(RetryPolicy.parseRetryAfter("nan") == nil)
        #expect(RetryPolicy.parseRetryAfter("Wed, 21 Oct 2015 07:28:00 GMT") == nil)
        #expect(RetryPolicy.parseRetryAfter(nil) == nil)
    }

    @Test func withRetriesRetriesTransientErrorsOnly() async throws {
        let calls = Tally()
        let slept = Tally()
        let value = try await withRetries(policy, jitter: { 0.5 }, sleep: { d in slept.append(d) }) {
            let n = calls.increment()
            if n < 3 { throw IngestError(.serviceUnavailable, "down", transient: true, retryAfter: n == 2 ? .milliseconds(300) : nil) }
            return n
        }
        #expect(value == 3)
        #expect(slept.durations == [.milliseconds(100), .milliseconds(300)])

        calls.reset()
        await #expect(throws: IngestError.self) {
            try await withRetries(policy, sleep: { _ in }) {
                calls.increment()
                throw IngestError(.authFailed, "no")
            }
        }
        #expect(calls.count == 1)
    }

    @Test func withRetriesRethrowsTheLastErrorWhenAttemptsRunOut() async throws {
        let calls = Tally()
        do {
            _ = try await withRetries(policy, sleep: { _ in }) {
                calls.increment()
                throw IngestError(.embedFailed, "busy", transient: true)
            }
            Issue.record("expected a throw")
        } catch let error as IngestError {
            #expect(error.reason == .embedFailed)
        }
        #expect(calls.count == 5)
    }
}

/// A call counter and sleep recorder usable from `@Sendable` closures.
private final class Tally: Sendable {
    private let state = Mutex((count: 0, durations: [Duration]()))
    @discardableResult func increment() -> Int { state.withLock { $0.count += 1; return $0.count } }
    func reset() { state.withLock { $0.count = 0 } }
    func append(_ duration: Duration) { state.withLock { $0.durations.append(duration) } }
    var count: Int { state.withLock { $0.count } }
    var durations: [Duration] { state.withLock { $0.durations } }
}
