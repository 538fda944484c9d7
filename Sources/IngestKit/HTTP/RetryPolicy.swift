import Foundation

/// When to try a failed call again and how long to wait: a pure value, tested without I/O.
///
/// Exponential back-off with jitter, bounded both by attempts and by total time, honouring a
/// server's `Retry-After` (capped by `maxDelay`).
package struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first one included.
    package var maxAttempts: Int
    package var baseDelay: Duration
    package var maxDelay: Duration
    /// Give up once this much time has passed since the first attempt.
    package var maxElapsed: Duration

    package init(maxAttempts: Int = 6, baseDelay: Duration = .milliseconds(500), maxDelay: Duration = .seconds(30), maxElapsed: Duration = .seconds(300)) {
        self.maxAttempts = maxAttempts
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.maxElapsed = maxElapsed
    }

    /// No retries at all. (Not `none`: where a `RetryPolicy?` is expected, `.none` means nil,
    /// which callers read as "the configured policy".)
    package static let singleAttempt = RetryPolicy(maxAttempts: 1, baseDelay: .zero, maxDelay: .zero, maxElapsed: .zero)

    /// Retries for ever, `baseDelay` doubling up to `maxDelay`: for loops that must never give
    /// up (the gRPC pull stream's reconnect). Its `delay` never returns nil.
    package static func unbounded(baseDelay: Duration, maxDelay: Duration) -> RetryPolicy {
        RetryPolicy(maxAttempts: .max, baseDelay: baseDelay, maxDelay: maxDelay, maxElapsed: .seconds(Int64.max))
    }

    /// The delay before attempt `attempt + 1` after `attempt` attempts failed, or nil to give up.
    /// - Parameters:
    ///   - attempt: attempts made so far (1 after the first failure).
    ///   - elapsed: time since the first attempt started.
    ///   - retryAfter: the server's `Retry-After`, when it sent one.
    ///   - jitter: a number in 0..<1 (random in production, fixed in tests).
    package func delay(afterAttempt attempt: Int, elapsed: Duration, retryAfter: Duration? = nil, jitter: Double) -> Duration? {
        guard attempt < maxAttempts else { return nil }
        let wait: Duration
        if let retryAfter {
            wait = min(retryAfter, maxDelay)
        } else {
            let exponent = min(max(attempt - 1, 0), 30)
            let raw = baseDelay * (1 << exponent)
            let capped = min(raw, maxDelay)
            // Jitter in [0.5, 1.5) keeps concurrent clients from retrying in lockstep; the
            // result stays within maxDelay so a setting is a real upper bound.
            wait = min(capped * (0.5 + min(max(jitter, 0), 1)), maxDelay)
        }
        guard elapsed + wait <= maxElapsed else { return nil }
        return wait
    }

    /// Parses a `Retry-After` header given in seconds (HTTP dates are ignored: nobody we talk to sends them).
    package static func parseRetryAfter(_ value: String?) -> Duration? {
        guard let value, let seconds = Double(value.trimmingCharacters(in: .whitespaces)), seconds.isFinite, seconds >= 0 else { return nil }
        // Clamped (to a day) before the integer conversion, so an absurd header cannot trap.
        return .milliseconds(Int64(min(seconds, 86_400) * 1000))
    }
}

/// Runs `operation` under `policy`, retrying while it throws transient ``IngestError``s and
/// honouring their `retryAfter`.
/// - Parameters:
///   - clock: measures the time spent, for `maxElapsed`.
///   - jitter: a number in 0..<1 per retry (random by default; fixed in tests).
///   - sleep: how to wait between attempts (`Task.sleep` by default; tests record instead of waiting).
///     Cancellation during the wait ends the retries with `CancellationError`.
package func withRetries<T: Sendable>(
    _ policy: RetryPolicy,
    clock: ContinuousClock = ContinuousClock(),
    jitter: @Sendable () -> Double = { Double.random(in: 0..<1) },
    sleep: @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) },
    isolation: isolated (any Actor)? = #isolation,
    operation: () async throws -> T
) async throws -> T {
    let start = clock.now
    var attempt = 0
    while true {
        attempt += 1
        do {
            return try await operation()
        } catch let error as IngestError where error.isTransient {
            guard let wait = policy.delay(afterAttempt: attempt, elapsed: clock.now - start, retryAfter: error.retryAfter, jitter: jitter()) else {
                throw error
            }
            try await sleep(wait)
        }
    }
}
