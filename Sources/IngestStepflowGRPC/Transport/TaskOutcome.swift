import IngestKit

/// Limits and delays of one task's life, from the settings.
package struct TaskPolicy: Sendable, Equatable {
    /// Assignments whose received size is larger fail with INVALID_INPUT (INGEST_MAX_BODY_BYTES).
    package var maxInputBytes: Int
    /// How long a claim answered UNAVAILABLE (run being recovered) is retried, one try per beat.
    package var claimPatience: Duration
    /// `CompleteTask` retries on UNAVAILABLE: the delays, and (``RetryPolicy/maxElapsed``) how
    /// long before a result that cannot be delivered is left to the orchestrator's reassignment
    /// (safe: ingesting a document again gives the same chunks).
    package var completeRetry: RetryPolicy
    /// `GetOrchestratorForRun` redirects followed for one task before giving up.
    package var maxRedirects: Int

    package init(
        maxInputBytes: Int = 64 * 1024 * 1024,
        claimPatience: Duration = .seconds(30),
        completeRetry: RetryPolicy = RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(200), maxDelay: .seconds(5), maxElapsed: .seconds(120)),
        maxRedirects: Int = 5
    ) {
        self.maxInputBytes = maxInputBytes
        self.claimPatience = claimPatience
        self.completeRetry = completeRetry
        self.maxRedirects = maxRedirects
    }
}

/// How one task ended, for logs, metrics and tests.
package enum TaskOutcome: Sendable, Equatable {
    /// `CompleteTask` was acknowledged with this result.
    case completed(CompletedResult)
    /// The claim was refused (another worker holds it, or the orchestrator does not know it):
    /// nothing was executed and nothing is sent.
    case notClaimed(String)
    /// A heartbeat answered `should_abort` (or ALREADY_CLAIMED): the document was cancelled and
    /// no completion sent.
    case aborted(String)
    /// The result could not be delivered; the orchestrator will reassign the task.
    case undelivered(String)

    /// What was delivered.
    package enum CompletedResult: Sendable, Equatable {
        case output
        case error(Stepflow_V1_TaskErrorCode)
        case components
    }
}

extension TaskOutcome: CustomStringConvertible {
    /// Short, for logs: `completed output`, `completed error invalidInput`, `aborted should_abort`.
    package var description: String {
        switch self {
        case .completed(let result): "completed \(result)"
        case .notClaimed(let why): "not claimed: \(why)"
        case .aborted(let why): "aborted: \(why)"
        case .undelivered(let why): "undelivered: \(why)"
        }
    }
}

extension TaskOutcome.CompletedResult: CustomStringConvertible {
    package var description: String {
        switch self {
        case .output: "output"
        case .components: "components"
        case .error(let code): "error \(code)"
        }
    }
}
