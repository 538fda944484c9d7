import IngestKit
import Logging

/// The decisions of one task's life, as a value: events in (what the orchestrator answered, a
/// timer that fired, the execution that ended), actions out (send a heartbeat, run the
/// component, send `CompleteTask`, look the run up, wait, log, finish).
///
/// Pure, with no clock and no I/O: times are offsets from the task's start and the jitter of a
/// back-off is a parameter, so every path (claim refused or retried, abort, redirects, retries,
/// patience running out) is tested with plain values. ``TaskRunner`` performs the actions.
/// Modelled on AsyncHTTPClient's `Transaction.StateMachine` and our `DoclingTaskStateMachine`.
///
/// An `execute` task is claimed with a heartbeat (UNAVAILABLE is retried once per beat for
/// ``Settings/claimPatience``, NOT_FOUND follows the run through `GetOrchestratorForRun`), then
/// runs while a heartbeat goes out every interval (one at a time) until the result is
/// acknowledged; a beat answering `should_abort` or ALREADY_CLAIMED ends it with nothing sent.
/// `CompleteTask` is retried on UNAVAILABLE under ``Settings/completeRetry`` and redirected on
/// NOT_FOUND. A `list_components` task is only answered, neither claimed nor heartbeated.
package struct TaskStateMachine: Sendable {
    /// What the machine is configured with (from ``TaskPolicy`` and the assignment).
    package struct Settings: Sendable, Equatable {
        /// Between heartbeats (the assignment's `heartbeat_interval_secs`, at least 1 s).
        package var interval: Duration
        package var claimPatience: Duration
        package var completeRetry: RetryPolicy
        package var maxRedirects: Int

        package init(interval: Duration, claimPatience: Duration, completeRetry: RetryPolicy, maxRedirects: Int) {
            self.interval = interval
            self.claimPatience = claimPatience
            self.completeRetry = completeRetry
            self.maxRedirects = maxRedirects
        }
    }

    /// What the assignment asks for.
    package enum Kind: Sendable, Equatable {
        case execute
        case listComponents
        /// Neither `execute` nor `list_components`.
        case empty
    }

    /// A `TaskHeartbeatResponse`, as far as the decisions go.
    package enum HeartbeatAnswer: Sendable, Equatable {
        case inProgress
        case alreadyClaimed
        case shouldAbort
    }

    /// How a call to the orchestrator failed, classified by the shell from its `RPCError`.
    package enum CallFailure: Error, Sendable, Equatable {
        /// NOT_FOUND: this orchestrator does not know the task (the run may have moved).
        case notFound
        /// UNAVAILABLE: the run is being recovered, or the orchestrator is unreachable.
        case unavailable(String)
        /// The task itself was cancelled (shutdown).
        case cancelled
        case other(String)
    }

    /// The waits the machine asks for; each comes back as ``timerFired(_:at:)``.
    package enum Timer: Sendable, Equatable {
        /// The claim answered UNAVAILABLE: claim again at the next beat.
        case claimRetry
        /// The next heartbeat is due.
        case beat
        /// `CompleteTask` answered UNAVAILABLE (or its run was not found where it is): resend.
        case completeRetry
    }

    /// Who asked where the run lives; the answer comes back as ``runLookedUp(_:for:at:jitter:)``.
    package enum LookUp: Sendable, Equatable {
        case claim, heartbeat, completion
    }

    package enum Action: Sendable, Equatable {
        /// Send `TaskHeartbeat` to `url` (the claim, then the keep-alive); answer with
        /// ``heartbeatAnswered(_:at:)``.
        case sendHeartbeat(url: String)
        /// Run the component; answer with ``executionFinished(_:at:)``.
        case execute
        /// Send the result with `CompleteTask` to `url`; answer with ``completionAnswered(_:at:jitter:)``.
        case sendCompletion(url: String)
        /// Ask `GetOrchestratorForRun` where `runID` lives.
        case lookUpRun(runID: String, for: LookUp)
        /// Wait `duration`, then ``timerFired(_:at:)``.
        case wait(Duration, Timer)
        /// A log line: level, message (worded for operators; some are matched by tests and
        /// alerts, so they stay as they are) and metadata.
        case log(Logger.Level, String, [String: String] = [:])
        /// The task is over: cancel whatever still runs (the execution, a wait, a call).
        case finish(TaskOutcome)
    }

    private enum BeatState { case waiting, inFlight, lookingUp }
    private enum CompletionState { case executing, sending, waitingRetry, lookingUp }

    private struct Claim {
        var startedAt: Duration
        var redirects = 0
    }

    private struct Running {
        /// False for `list_components`: answered, never heartbeated.
        var heartbeats: Bool
        var beat: BeatState = .waiting
        /// Failed beats in a row: one log line per outage, not one per beat.
        var beatFailures = 0
        var completion: CompletionState
        var result: TaskOutcome.CompletedResult?
        var completionStartedAt: Duration = .zero
        var completionFailures = 0
        var completionRedirects = 0
    }

    private enum State {
        case idle
        case claiming(Claim)
        case running(Running)
        case finished
    }

    private var state: State = .idle
    private let settings: Settings
    /// The run the orchestrator owns the task by (the root run first): what lookups ask for.
    private let lookupRunID: String?
    /// Where heartbeats and the completion go; a redirect found by one is used by the other.
    package private(set) var url: String

    /// - Parameters:
    ///   - url: the task's `orchestrator_service_url` (or the tasks address when it names none).
    ///   - lookupRunID: the root run id, else the run id; nil when the task has none.
    package init(settings: Settings, url: String, lookupRunID: String?) {
        self.settings = settings
        self.url = url
        self.lookupRunID = lookupRunID
    }

    package var isFinished: Bool {
        if case .finished = state { return true }
        return false
    }

    // MARK: - Events

    /// The first event: what the assignment is.
    package mutating func start(_ kind: Kind, at now: Duration) -> [Action] {
        guard case .idle = state else { return invalid("start") }
        switch kind {
        case .execute:
            state = .claiming(Claim(startedAt: now))
            return [.sendHeartbeat(url: url)]
        case .listComponents:
            // Discovery has no run and is not claimed (as the Python SDK does): just answer.
            state = .running(Running(heartbeats: false, completion: .sending, result: .components, completionStartedAt: now))
            return [.sendCompletion(url: url)]
        case .empty:
            return finish(
                .notClaimed("empty task"),
                log: (.warning, "task without a payload (neither execute nor list_components): ignored; the orchestrator will time it out", [:])
            )
        }
    }

    /// A heartbeat (the claim, or a keep-alive) was answered or failed.
    package mutating func heartbeatAnswered(_ answer: Result<HeartbeatAnswer, CallFailure>, at now: Duration) -> [Action] {
        switch state {
        case .claiming(var claim):
            switch answer {
            case .success(.alreadyClaimed):
                return notClaimed("another worker holds it (ALREADY_CLAIMED)")
            case .success(.shouldAbort):
                return notClaimed("the orchestrator answered should_abort")
            case .success(.inProgress):
                state = .running(Running(heartbeats: true, completion: .executing))
                return [.log(.info, "task claimed"), .execute, .wait(settings.interval, .beat)]
            case .failure(.notFound):
                guard claim.redirects < settings.maxRedirects, let runID = lookupRunID else {
                    return notClaimed("the orchestrator at \(url) does not know the task (NOT_FOUND)")
                }
                claim.redirects += 1
                state = .claiming(claim)
                return [.lookUpRun(runID: runID, for: .claim)]
            case .failure(.unavailable(let message)):
                let log = Action.log(.info, "claim answered UNAVAILABLE (run being recovered or orchestrator unreachable); retrying at the next beat", ["error": message])
                if now - claim.startedAt >= settings.claimPatience {
                    return [log] + notClaimed("the orchestrator stayed unavailable for \(settings.claimPatience.wholeSeconds) s")
                }
                return [log, .wait(settings.interval, .claimRetry)]
            case .failure(.cancelled):
                return notClaimed("cancelled")
            case .failure(.other(let description)):
                return notClaimed("the claim failed: \(description)")
            }
        case .running(var running) where running.beat == .inFlight:
            switch answer {
            case .success(.inProgress):
                running.beatFailures = 0
            case .success(let refusal):
                let why = refusal == .alreadyClaimed ? "ALREADY_CLAIMED" : "should_abort"
                return finish(.aborted(why), log: (.notice, "heartbeat answered \(why): cancelling the document; no completion will be sent", [:]))
            case .failure(.notFound):
                if let runID = lookupRunID {
                    running.beat = .lookingUp
                    state = .running(running)
                    return [.lookUpRun(runID: runID, for: .heartbeat)]
                }
            case .failure(.cancelled):
                return finish(.aborted("cancelled"))
            case .failure(.unavailable(let description)), .failure(.other(let description)):
                running.beatFailures += 1
                if running.beatFailures == 1 {
                    running.beat = .waiting
                    state = .running(running)
                    return [.log(.warning, "heartbeat failed; retrying every beat", ["error": description]), .wait(settings.interval, .beat)]
                }
            }
            running.beat = .waiting
            state = .running(running)
            return [.wait(settings.interval, .beat)]
        default:
            return invalid("heartbeatAnswered")
        }
    }

    /// `GetOrchestratorForRun` answered `moved` (nil: it failed or no orchestrator holds the run).
    package mutating func runLookedUp(_ moved: String?, for purpose: LookUp, at now: Duration, jitter: Double) -> [Action] {
        switch (state, purpose) {
        case (.claiming, .claim):
            guard let moved, moved != url else {
                return notClaimed("the orchestrator at \(url) does not know the task (NOT_FOUND)")
            }
            url = moved
            return [.sendHeartbeat(url: moved)]
        case (.running(var running), .heartbeat) where running.beat == .lookingUp:
            var actions: [Action] = []
            if let moved, moved != url {
                url = moved
                actions.append(.log(.notice, "run moved to another orchestrator", ["orchestrator": moved]))
            }
            running.beat = .waiting
            state = .running(running)
            return actions + [.wait(settings.interval, .beat)]
        case (.running(var running), .completion) where running.completion == .lookingUp:
            guard let moved else {
                return undelivered("the orchestrator at \(url) no longer knows the task (NOT_FOUND) and no other one holds its run")
            }
            if moved != url {
                url = moved
                running.completion = .sending
                state = .running(running)
                return [.log(.notice, "CompleteTask: run moved; resending", ["orchestrator": moved]), .sendCompletion(url: moved)]
            }
            // Same orchestrator: the task may not be registered again yet after a recovery.
            state = .running(running)
            return retryCompletion(at: now, jitter: jitter)
        default:
            return invalid("runLookedUp(\(purpose))")
        }
    }

    /// The component ended with a result of `kind`; nil when it was cancelled.
    package mutating func executionFinished(_ kind: TaskOutcome.CompletedResult?, at now: Duration) -> [Action] {
        guard case .running(var running) = state, running.completion == .executing else { return invalid("executionFinished") }
        guard let kind else { return finish(.aborted("cancelled")) }
        running.result = kind
        running.completion = .sending
        running.completionStartedAt = now
        state = .running(running)
        return [.sendCompletion(url: url)]
    }

    /// `CompleteTask` was acknowledged, or failed.
    package mutating func completionAnswered(_ answer: Result<Void, CallFailure>, at now: Duration, jitter: Double) -> [Action] {
        guard case .running(var running) = state, running.completion == .sending else { return invalid("completionAnswered") }
        switch answer {
        case .success:
            let result = running.result ?? .output
            return finish(.completed(result), log: (.info, "task completed", ["result": "\(result)"]))
        case .failure(.notFound):
            guard running.completionRedirects < settings.maxRedirects, let runID = lookupRunID else {
                return undelivered("the orchestrator at \(url) no longer knows the task (NOT_FOUND) and no other one holds its run")
            }
            running.completionRedirects += 1
            running.completion = .lookingUp
            state = .running(running)
            return [.lookUpRun(runID: runID, for: .completion)]
        case .failure(.unavailable(let message)):
            return [.log(.info, "CompleteTask answered UNAVAILABLE; retrying", ["attempt": "\(running.completionFailures + 1)", "error": message])]
                + retryCompletion(at: now, jitter: jitter)
        case .failure(.cancelled):
            return finish(.aborted("cancelled before the result was delivered"))
        case .failure(.other(let description)):
            return undelivered("CompleteTask failed: \(description)")
        }
    }

    /// A wait asked for by ``Action/wait(_:_:)`` is over.
    package mutating func timerFired(_ timer: Timer, at now: Duration) -> [Action] {
        switch (state, timer) {
        case (.claiming, .claimRetry):
            return [.sendHeartbeat(url: url)]
        case (.running(var running), .beat) where running.heartbeats && running.beat == .waiting:
            running.beat = .inFlight
            state = .running(running)
            return [.sendHeartbeat(url: url)]
        case (.running(var running), .completeRetry) where running.completion == .waitingRetry:
            running.completion = .sending
            state = .running(running)
            return [.sendCompletion(url: url)]
        case (.finished, _):
            return []
        default:
            return invalid("timerFired(\(timer))")
        }
    }

    // MARK: - Helpers

    private mutating func retryCompletion(at now: Duration, jitter: Double) -> [Action] {
        guard case .running(var running) = state else { return invalid("retryCompletion") }
        running.completionFailures += 1
        let elapsed = now - running.completionStartedAt
        guard let delay = settings.completeRetry.delay(afterAttempt: running.completionFailures, elapsed: elapsed, jitter: jitter) else {
            return undelivered("CompleteTask was not acknowledged within \(settings.completeRetry.maxElapsed.wholeSeconds) s")
        }
        running.completion = .waitingRetry
        state = .running(running)
        return [.wait(delay, .completeRetry)]
    }

    private mutating func notClaimed(_ why: String) -> [Action] {
        finish(.notClaimed(why), log: (.notice, "task not claimed: \(why); not executing it", [:]))
    }

    private mutating func undelivered(_ why: String) -> [Action] {
        finish(
            .undelivered(why),
            log: (.error, "result not delivered: \(why). The orchestrator will reassign the task; ingesting the document again is safe (same chunk ids, the index is unchanged)", [:])
        )
    }

    private mutating func finish(_ outcome: TaskOutcome, log: (Logger.Level, String, [String: String])? = nil) -> [Action] {
        state = .finished
        return (log.map { [Action.log($0.0, $0.1, $0.2)] } ?? []) + [.finish(outcome)]
    }

    /// An event the state does not expect (a bug of ours): end the task rather than guess.
    private mutating func invalid(_ event: String) -> [Action] {
        if case .finished = state { return [] }
        return finish(.aborted("internal error"), log: (.error, "task state machine: unexpected event \(event); the task is dropped and the orchestrator will reassign it", [:]))
    }
}
