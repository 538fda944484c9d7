import Foundation
import IngestKit

/// The decisions of one asynchronous Docling conversion, as a value: events in (what the server
/// answered, and when), actions out (submit, poll after a sleep, fetch the result, fail).
///
/// Pure, with no clock and no I/O (times are offsets from the start of the conversion), so every
/// path (queueing, timeouts, a task lost by a restarted server, a failed task) is tested without
/// a server. Modelled on AsyncHTTPClient's connection state machines.
package struct DoclingTaskStateMachine: Sendable {
    /// A `task_status` as Docling reports it.
    package enum TaskStatus: Sendable, Equatable {
        case pending, started, success, partialSuccess, failure, skipped
        /// A status this client does not know; treated as "still working".
        case other(String)

        /// Parses Docling's spelling; unknown or missing values become ``other(_:)``.
        package init(_ raw: String?) {
            switch raw {
            case "pending": self = .pending
            case "started": self = .started
            case "success": self = .success
            case "partial_success": self = .partialSuccess
            case "failure": self = .failure
            case "skipped": self = .skipped
            default: self = .other(raw ?? "")
            }
        }
    }

    /// What the client must do next.
    package enum Action: Sendable, Equatable {
        /// Upload the document (again, after a lost task).
        case submit
        /// Sleep `after`, then poll the task's status.
        case poll(taskID: String, after: Duration)
        /// Fetch `/v1/result/{taskID}`; `taskFailed` when the status said failure.
        case fetchResult(taskID: String, taskFailed: Bool)
        /// Give up with this error.
        case fail(IngestError)
    }

    private struct RunningTask {
        var id: String
        var submittedAt: Duration
        var startedAt: Duration?
        var nextInterval: Duration
    }

    private enum State {
        case idle
        case submitting
        case waiting(RunningTask)
        case fetching(taskID: String, failureMessage: String?)
        case finished
    }

    private var state: State = .idle
    private let configuration: DoclingConfiguration
    /// The document, as messages name it.
    private let source: String
    /// Tasks submitted again after the server lost one.
    package private(set) var resubmits = 0

    /// - Parameters:
    ///   - configuration: the timeouts, poll pacing and resubmit budget.
    ///   - source: the document's name for messages (already redacted).
    package init(configuration: DoclingConfiguration, source: String) {
        self.configuration = configuration
        self.source = source
    }

    /// The first action: submit.
    package mutating func start() -> Action {
        state = .submitting
        return .submit
    }

    /// The upload was accepted: Docling created task `taskID` with `status`.
    package mutating func submitted(taskID: String, status: TaskStatus, errorMessage: String? = nil, at now: Duration) -> Action {
        guard case .submitting = state else { return invalid("submitted") }
        let task = RunningTask(id: taskID, submittedAt: now, startedAt: nil, nextInterval: configuration.pollInterval)
        return advance(task, status: status, errorMessage: errorMessage, at: now)
    }

    /// A status poll answered `status`.
    package mutating func polled(status: TaskStatus, errorMessage: String? = nil, at now: Duration) -> Action {
        guard case .waiting(let task) = state else { return invalid("polled") }
        return advance(task, status: status, errorMessage: errorMessage, at: now)
    }

    /// A status poll answered 404 "Task not found.": the server restarted or another replica
    /// answered. Submits again while the budget lasts.
    package mutating func taskNotFound(at now: Duration) -> Action {
        guard case .waiting = state else { return invalid("taskNotFound") }
        return resubmitOrFail(during: "polling")
    }

    /// `/v1/result` answered 404.
    package mutating func resultNotFound(at now: Duration) -> Action {
        guard case .fetching(_, let failureMessage) = state else { return invalid("resultNotFound") }
        if let failureMessage {
            state = .finished
            return .fail(IngestError(.parseFailed, "Docling could not convert \(source): \(failureMessage)\(Self.hint(for: failureMessage))"))
        }
        return resubmitOrFail(during: "fetching the result")
    }

    /// The result was fetched (successfully or not): nothing more to do.
    package mutating func resultFetched() {
        state = .finished
    }

    private mutating func advance(_ task: RunningTask, status: TaskStatus, errorMessage: String?, at now: Duration) -> Action {
        var task = task
        switch status {
        case .success, .partialSuccess, .skipped:
            state = .fetching(taskID: task.id, failureMessage: nil)
            return .fetchResult(taskID: task.id, taskFailed: false)
        case .failure:
            state = .fetching(taskID: task.id, failureMessage: errorMessage ?? "the task failed without a message")
            return .fetchResult(taskID: task.id, taskFailed: true)
        case .pending where task.startedAt == nil:
            let waited = now - task.submittedAt
            guard waited < configuration.pendingTimeout else {
                state = .finished
                return .fail(IngestError(
                    .parseTimeout,
                    "Docling Serve kept \(source) queued for \(Self.seconds(waited)) s without starting it (limit \(Self.seconds(configuration.pendingTimeout)) s, 4 × DOCLING_TIMEOUT_SECONDS); the server is overloaded or stuck: check it, or lower DOCLING_MAX_IN_FLIGHT",
                    transient: true
                ))
            }
            return schedulePoll(&task, remaining: configuration.pendingTimeout - waited)
        case .pending, .started, .other:
            let startedAt = task.startedAt ?? now
            task.startedAt = startedAt
            let working = now - startedAt
            guard working < configuration.documentTimeout else {
                state = .finished
                return .fail(IngestError(
                    .parseTimeout,
                    "Docling did not finish \(source) within \(Self.seconds(configuration.documentTimeout)) s (DOCLING_TIMEOUT_SECONDS); raise DOCLING_TIMEOUT_SECONDS or split the document"
                ))
            }
            return schedulePoll(&task, remaining: configuration.documentTimeout - working)
        }
    }

    /// Polls after the current interval (never sleeping past the deadline), then grows the interval.
    private mutating func schedulePoll(_ task: inout RunningTask, remaining: Duration) -> Action {
        let sleep = max(.zero, min(task.nextInterval, remaining))
        task.nextInterval = min(task.nextInterval * max(1, configuration.pollGrowth), configuration.maxPollInterval)
        state = .waiting(task)
        return .poll(taskID: task.id, after: sleep)
    }

    private mutating func resubmitOrFail(during phase: String) -> Action {
        guard resubmits < configuration.maxResubmits else {
            state = .finished
            return .fail(IngestError(
                .parseFailed,
                "Docling Serve lost the task for \(source) while \(phase) (\"Task not found.\") \(resubmits + 1) times: the server restarted (perhaps this document crashes it), or several replicas behind DOCLING_SERVE_URL do not share tasks: check the server's log, or point DOCLING_SERVE_URL at one replica"
            ))
        }
        resubmits += 1
        state = .submitting
        return .submit
    }

    private mutating func invalid(_ event: String) -> Action {
        state = .finished
        return .fail(IngestError(.internalError, "Docling task state machine: unexpected event \(event) while converting \(source)"))
    }

    /// Extra advice for Docling's opaque failure text.
    private static func hint(for message: String) -> String {
        message.contains("Internal processing error")
            ? " (the cause is in Docling Serve's log; a server without its model weights fails every document this way)"
            : ""
    }

    private static func seconds(_ duration: Duration) -> String {
        let value = duration.seconds
        return value == value.rounded() ? String(Int(value)) : String(format: "%.1f", value)
    }
}
