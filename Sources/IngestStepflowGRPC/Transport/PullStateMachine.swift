import IngestKit
import Logging

/// The decisions of the `PullTasks` loop, as a value: when the stream is reopened, after what
/// back-off, and whether its end is worth a failure. Pure (times are offsets from the loop's
/// start, the jitter is a parameter); ``PullLoop`` performs the actions.
///
/// The back-off starts over only after a stream proved healthy, by living ``healthyAge`` or by
/// delivering a task: a peer that accepts streams and ends them at once would otherwise get a
/// reconnect every few hundred milliseconds, for ever. A stream killed by an assignment over
/// STEPFLOW_MAX_ASSIGNMENT_BYTES says nothing about the orchestrator (it just sent a task): it
/// is counted and reopened at once, and readiness stays on.
package struct PullStateMachine: Sendable {
    /// How long a stream must live, when it delivers no task, before the back-off starts over.
    package static let healthyAge: Duration = .seconds(30)

    /// How a stream ended.
    package enum StreamEnd: Sendable, Equatable {
        /// The orchestrator ended it.
        case ended
        /// It could not be opened, or failed while open.
        case failed(String)
        /// An assignment over the receive limit killed it (grpc-swift refuses it undecoded).
        case oversizedAssignment(String)
        /// The loop is stopping (shutdown).
        case cancelled
    }

    package enum Action: Sendable, Equatable {
        /// A log line: level, message (some are matched by tests and alerts) and metadata.
        case log(Logger.Level, String, [String: String] = [:])
        /// Readiness on: the orchestrator accepted the stream.
        case markConnected
        /// Readiness off until a stream is accepted again.
        case markDisconnected
        /// Count one dropped oversized assignment (a metric).
        case countOversizedAssignment
        /// Open the next stream after this delay (`.zero`: at once).
        case reopen(after: Duration)
        /// Stop pulling.
        case stop
    }

    /// Delays between reconnects; never gives up (the orchestrator going away never stops the worker).
    private let reconnect: RetryPolicy
    /// STEPFLOW_MAX_ASSIGNMENT_BYTES, named in the log line of an assignment over it.
    private let maxAssignmentBytes: Int
    /// Streams in a row that failed, or ended before they proved healthy.
    package private(set) var failures = 0
    private var connectedAt: Duration?
    private var deliveredTask = false

    package init(reconnect: RetryPolicy, maxAssignmentBytes: Int) {
        self.reconnect = reconnect
        self.maxAssignmentBytes = maxAssignmentBytes
    }

    /// The orchestrator accepted the stream.
    package mutating func streamOpened(at now: Duration, queue: String) -> [Action] {
        connectedAt = now
        deliveredTask = false
        return [.markConnected, .log(.info, "pull stream connected", ["queue": queue])]
    }

    /// The stream handed over an assignment.
    package mutating func assignmentDelivered() {
        deliveredTask = true
    }

    /// The stream ended (or could not be opened): what to do next.
    /// - Parameter jitter: a number in 0..<1 for the back-off (random in production).
    package mutating func streamEnded(_ end: StreamEnd, at now: Duration, jitter: Double) -> [Action] {
        let connected = connectedAt
        let delivered = deliveredTask
        connectedAt = nil
        deliveredTask = false
        if case .cancelled = end { return [.markDisconnected, .stop] }

        let oversized: Bool
        if case .oversizedAssignment = end { oversized = true } else { oversized = false }
        let lived = connected.map { now - $0 } ?? .zero
        if connected != nil && (delivered || oversized || lived >= Self.healthyAge) {
            failures = 0
        } else {
            failures += 1
        }

        switch end {
        case .oversizedAssignment(let error):
            // Reopen at once and stay ready: one assignment per reopened stream, no hot loop.
            return [
                .countOversizedAssignment,
                .log(.error, "task assignment over STEPFLOW_MAX_ASSIGNMENT_BYTES (\(maxAssignmentBytes)) dropped: the worker cannot read it, so it cannot fail it; the orchestrator decides its fate. Reconnecting. Raise STEPFLOW_MAX_ASSIGNMENT_BYTES, or pass large documents as blobs (blob_id)", ["error": error]),
                .reopen(after: .zero),
            ]
        case .ended:
            return [.log(.notice, "pull stream ended by the orchestrator; reconnecting"), .markDisconnected, .reopen(after: delay(jitter: jitter))]
        case .failed(let error):
            return [.log(.warning, "pull stream failed; reconnecting", ["error": error]), .markDisconnected, .reopen(after: delay(jitter: jitter))]
        case .cancelled:
            return [.markDisconnected, .stop]
        }
    }

    /// The back-off after ``failures`` failed streams (the shortest one after a healthy stream).
    private func delay(jitter: Double) -> Duration {
        reconnect.delay(afterAttempt: failures + 1, elapsed: .zero, jitter: jitter) ?? reconnect.maxDelay
    }
}
