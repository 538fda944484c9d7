import IngestKit

/// Capped exponential back-off with jitter, for reconnecting the pull stream and resending
/// `CompleteTask`. Pure: the random draw is a parameter so tests can pin it.
package struct Backoff: Sendable, Equatable {
    /// The first delay (before jitter).
    package var initial: Duration
    /// No delay exceeds this.
    package var maximum: Duration
    package var multiplier: Double
    /// The share of each delay that is random: 0.5 means a delay lies in [base/2, base]. Jitter
    /// keeps three replicas from reconnecting in lockstep after an orchestrator restart.
    package var jitter: Double

    package init(initial: Duration, maximum: Duration, multiplier: Double = 2, jitter: Double = 0.5) {
        self.initial = initial
        self.maximum = maximum
        self.multiplier = multiplier
        self.jitter = min(1, max(0, jitter))
    }

    /// The delay before retry number `attempt` (0 for the first retry); `random` in [0, 1).
    package func delay(attempt: Int, random: Double = Double.random(in: 0..<1)) -> Duration {
        let initialSeconds = initial.seconds
        let maximumSeconds = maximum.seconds
        // Stop growing once past the cap, so a long outage never overflows the power.
        let exponent = min(max(0, attempt), 64)
        let base = min(maximumSeconds, initialSeconds * pow(multiplier, Double(exponent)))
        let seconds = base * (1 - jitter * min(max(random, 0), 1))
        return .milliseconds(Int64((seconds * 1000).rounded()))
    }
}

/// `pow` without Foundation, for the small exponents above.
private func pow(_ base: Double, _ exponent: Double) -> Double {
    var result = 1.0
    var remaining = Int(exponent)
    while remaining > 0 {
        result *= base
        remaining -= 1
        if result > 1e12 { break }
    }
    return result
}
