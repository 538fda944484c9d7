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

    /// No retries at all.
    package static let none = RetryPolicy(maxAttempts: 1, baseDelay: .zero, maxDelay: .zero, maxElapsed: .zero)

    /// The delay before attempt `attempt + 1` after `attempt` attempts failed, or nil to give up.
    /// - Parameters:
    ///   - attempt: attempts made so far (1 after the first failure).
    ///   - elapsed: time since the first attempt started.
    ///   - retryAfter: the server's `Retry-After`, when it sent one.
    ///   - jitter: a number in 0..<1 (random in production, fixed in tests).
    package func delay(afterAttempt attempt: Int, elapsed: Duration, retryAfter: Duration? = nil, jitter: Double) -> Duration? {
        guard attempt < maxAttempts else { return nil }
        var wait: Duration
        if let retryAfter {
            wait = min(retryAfter, maxDelay)
        } else {
            let exponent = min(attempt - 1, 30)
            let raw = baseDelay * (1 << exponent)
            let capped = min(raw, maxDelay)
            // Jitter in [0.5, 1.5) keeps concurrent clients from retrying in lockstep.
            wait = capped * (0.5 + jitter)
        }
        guard elapsed + wait <= maxElapsed else { return nil }
        return wait
    }

    /// Parses a `Retry-After` header given in seconds (HTTP dates are ignored: nobody we talk to sends them).
    package static func parseRetryAfter(_ value: String?) -> Duration? {
        guard let value, let seconds = Double(value.trimmingCharacters(in: .whitespaces)), seconds >= 0 else { return nil }
        return .milliseconds(Int64(seconds * 1000))
    }
}

/// Runs `operation` under `policy`, retrying while it throws transient ``IngestError``s and
/// honouring their `retryAfter`.
package func withRetries<T: Sendable>(
    _ policy: RetryPolicy,
    clock: ContinuousClock = ContinuousClock(),
    operation: () async throws -> T
) async throws -> T {
    let start = clock.now
    var attempt = 0
    while true {
        attempt += 1
        do {
            return try await operation()
        } catch let error as IngestError where error.isTransient {
            guard let wait = policy.delay(afterAttempt: attempt, elapsed: clock.now - start, retryAfter: error.retryAfter, jitter: Double.random(in: 0..<1)) else {
                throw error
            }
            try await Task.sleep(for: wait)
        }
    }
}

extension Duration {
    /// Seconds as a Double, for reports and metrics.
    package var seconds: Double {
        Double(components.seconds) + Double(components.attoseconds) / 1e18
    }
}
