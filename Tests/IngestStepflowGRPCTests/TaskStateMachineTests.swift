import Foundation
import IngestCore
import IngestKit
import Logging
import SwiftProtobuf
import Testing

@testable import IngestStepflowGRPC

/// The task's decisions with no clock, no I/O: events in, actions out.
@Suite struct TaskStateMachineTests {
    static let settings = TaskStateMachine.Settings(
        interval: .seconds(1), claimPatience: .seconds(3),
        completeRetry: RetryPolicy(maxAttempts: .max, baseDelay: .milliseconds(200), maxDelay: .seconds(5), maxElapsed: .seconds(10)),
        maxRedirects: 2
    )
    typealias Machine = TaskStateMachine

    func machine(runID: String? = "run-1") -> Machine {
        Machine(settings: Self.settings, url: "http://a", lookupRunID: runID)
    }

    /// The actions without their log lines.
    func calls(_ actions: [Machine.Action]) -> [Machine.Action] {
        actions.filter { if case .log = $0 { false } else { true } }
    }

    func finished(_ actions: [Machine.Action]) -> TaskOutcome? {
        for case .finish(let outcome) in actions { return outcome }
        return nil
    }

    @Test func claimRunHeartbeatCompleteOnTheHappyPath() {
        var m = machine()
        #expect(m.start(.execute, at: .zero) == [.sendHeartbeat(url: "http://a")])
        #expect(m.heartbeatAnswered(.success(.inProgress), at: .zero) == [.log(.info, "task claimed"), .execute, .wait(.seconds(1), .beat)])
        #expect(m.timerFired(.beat, at: .seconds(1)) == [.sendHeartbeat(url: "http://a")])
        #expect(m.heartbeatAnswered(.success(.inProgress), at: .seconds(1)) == [.wait(.seconds(1), .beat)])
        #expect(m.executionFinished(.output, at: .seconds(2)) == [.sendCompletion(url: "http://a")])
        // The live tests find these lines by their exact messages.
        #expect(m.completionAnswered(.success(()), at: .seconds(2), jitter: 0.5) == [.log(.info, "task completed", ["result": "output"]), .finish(.completed(.output))])
        #expect(m.isFinished)
        // A wait that ends after the task did changes nothing.
        #expect(m.timerFired(.beat, at: .seconds(3)) == [])
    }

    @Test func aClaimRefusedEndsTheTaskUnexecuted() {
        for (answer, why) in [(Machine.HeartbeatAnswer.alreadyClaimed, "ALREADY_CLAIMED"), (.shouldAbort, "should_abort")] {
            var m = machine()
            _ = m.start(.execute, at: .zero)
            let actions = m.heartbeatAnswered(.success(answer), at: .zero)
            guard case .notClaimed(let text)? = finished(actions) else { Issue.record("\(actions)"); continue }
            #expect(text.contains(why))
            #expect(!actions.contains(.execute))
        }
    }

    @Test func anUnavailableClaimIsRetriedEachBeatForItsPatience() {
        var m = machine()
        _ = m.start(.execute, at: .zero)
        for second in 0..<3 {
            #expect(calls(m.heartbeatAnswered(.failure(.unavailable("recovering")), at: .seconds(second))) == [.wait(.seconds(1), .claimRetry)])
            #expect(m.timerFired(.claimRetry, at: .seconds(second + 1)) == [.sendHeartbeat(url: "http://a")])
        }
        #expect(finished(m.heartbeatAnswered(.failure(.unavailable("recovering")), at: .seconds(3))) == .notClaimed("the orchestrator stayed unavailable for 3 s"))
    }

    @Test func aClaimNotFoundFollowsTheRunWithinTheRedirectLimit() {
        var m = machine()
        _ = m.start(.execute, at: .zero)
        #expect(m.heartbeatAnswered(.failure(.notFound), at: .zero) == [.lookUpRun(runID: "run-1", for: .claim)])
        #expect(m.runLookedUp("http://b", for: .claim, at: .zero, jitter: 0.5) == [.sendHeartbeat(url: "http://b")])
        #expect(m.url == "http://b")
        #expect(m.heartbeatAnswered(.failure(.notFound), at: .zero) == [.lookUpRun(runID: "run-1", for: .claim)])
        #expect(m.runLookedUp("http://c", for: .claim, at: .zero, jitter: 0.5) == [.sendHeartbeat(url: "http://c")])
        // Third NOT_FOUND: over maxRedirects (2).
        #expect(finished(m.heartbeatAnswered(.failure(.notFound), at: .zero)) == .notClaimed("the orchestrator at http://c does not know the task (NOT_FOUND)"))
    }

    @Test func aClaimNotFoundWithoutARunOrWhereItAlreadyIsIsRefused() {
        var noRun = machine(runID: nil)
        _ = noRun.start(.execute, at: .zero)
        guard case .notClaimed? = finished(noRun.heartbeatAnswered(.failure(.notFound), at: .zero)) else { Issue.record("expected notClaimed"); return }
        var same = machine()
        _ = same.start(.execute, at: .zero)
        _ = same.heartbeatAnswered(.failure(.notFound), at: .zero)
        guard case .notClaimed? = finished(same.runLookedUp("http://a", for: .claim, at: .zero, jitter: 0.5)) else { Issue.record("expected notClaimed"); return }
    }

    @Test func aBeatAnsweringAbortEndsTheTaskWithoutACompletion() {
        for (answer, why) in [(Machine.HeartbeatAnswer.shouldAbort, "should_abort"), (.alreadyClaimed, "ALREADY_CLAIMED")] {
            var m = machine()
            _ = m.start(.execute, at: .zero)
            _ = m.heartbeatAnswered(.success(.inProgress), at: .zero)
            _ = m.timerFired(.beat, at: .seconds(1))
            let actions = m.heartbeatAnswered(.success(answer), at: .seconds(1))
            #expect(finished(actions) == .aborted(why))
            #expect(!actions.contains { if case .sendCompletion = $0 { true } else { false } })
        }
    }

    @Test func failedBeatsAreLoggedOncePerOutageAndRetriedEachBeat() {
        var m = machine()
        _ = m.start(.execute, at: .zero)
        _ = m.heartbeatAnswered(.success(.inProgress), at: .zero)
        var logs = 0
        for second in 1...3 {
            _ = m.timerFired(.beat, at: .seconds(second))
            let actions = m.heartbeatAnswered(.failure(.unavailable("down")), at: .seconds(second))
            logs += actions.count - calls(actions).count
            #expect(calls(actions) == [.wait(.seconds(1), .beat)])
        }
        #expect(logs == 1)
        _ = m.timerFired(.beat, at: .seconds(4))
        #expect(m.heartbeatAnswered(.success(.inProgress), at: .seconds(4)) == [.wait(.seconds(1), .beat)])
        _ = m.timerFired(.beat, at: .seconds(5))
        #expect(m.heartbeatAnswered(.failure(.other("x")), at: .seconds(5)).count == 2)  // a new outage: logged again
    }

    @Test func aBeatNotFoundMovesHeartbeatsAndTheCompletionToTheRunsOrchestrator() {
        var m = machine()
        _ = m.start(.execute, at: .zero)
        _ = m.heartbeatAnswered(.success(.inProgress), at: .zero)
        _ = m.timerFired(.beat, at: .seconds(1))
        #expect(m.heartbeatAnswered(.failure(.notFound), at: .seconds(1)) == [.lookUpRun(runID: "run-1", for: .heartbeat)])
        #expect(calls(m.runLookedUp("http://b", for: .heartbeat, at: .seconds(1), jitter: 0.5)) == [.wait(.seconds(1), .beat)])
        #expect(m.executionFinished(.output, at: .seconds(2)) == [.sendCompletion(url: "http://b")])
    }

    @Test func completionRetriesOnUnavailableWithTheBackOffUntilItsPatienceEnds() {
        var m = machine()
        _ = m.start(.execute, at: .zero)
        _ = m.heartbeatAnswered(.success(.inProgress), at: .zero)
        _ = m.executionFinished(.error(.invalidInput), at: .seconds(100))
        // jitter 0.5 takes the back-off as is: 200 ms, 400 ms, 800 ms...
        #expect(calls(m.completionAnswered(.failure(.unavailable("x")), at: .seconds(100), jitter: 0.5)) == [.wait(.milliseconds(200), .completeRetry)])
        #expect(m.timerFired(.completeRetry, at: .seconds(100)) == [.sendCompletion(url: "http://a")])
        #expect(calls(m.completionAnswered(.failure(.unavailable("x")), at: .seconds(101), jitter: 0.5)) == [.wait(.milliseconds(400), .completeRetry)])
        _ = m.timerFired(.completeRetry, at: .seconds(101))
        // 10 s after the result: the next wait would pass maxElapsed.
        #expect(finished(m.completionAnswered(.failure(.unavailable("x")), at: .seconds(110), jitter: 0.5)) == .undelivered("CompleteTask was not acknowledged within 10 s"))
    }

    @Test func completionNotFoundIsRedirectedOrRetriedOrLeftToReassignment() {
        var m = machine()
        _ = m.start(.execute, at: .zero)
        _ = m.heartbeatAnswered(.success(.inProgress), at: .zero)
        _ = m.executionFinished(.output, at: .zero)
        #expect(m.completionAnswered(.failure(.notFound), at: .zero, jitter: 0.5) == [.lookUpRun(runID: "run-1", for: .completion)])
        // Moved: resend there at once.
        #expect(calls(m.runLookedUp("http://b", for: .completion, at: .zero, jitter: 0.5)) == [.sendCompletion(url: "http://b")])
        #expect(m.completionAnswered(.failure(.notFound), at: .zero, jitter: 0.5) == [.lookUpRun(runID: "run-1", for: .completion)])
        // Same orchestrator: the task may not be registered again yet; wait, then resend.
        #expect(m.runLookedUp("http://b", for: .completion, at: .zero, jitter: 0.5) == [.wait(.milliseconds(200), .completeRetry)])
        _ = m.timerFired(.completeRetry, at: .milliseconds(200))
        // Over the redirect limit.
        guard case .undelivered? = finished(m.completionAnswered(.failure(.notFound), at: .seconds(1), jitter: 0.5)) else { Issue.record("expected undelivered"); return }
    }

    @Test func aCompletionNoOrchestratorKnowsIsUndelivered() {
        var m = machine()
        _ = m.start(.execute, at: .zero)
        _ = m.heartbeatAnswered(.success(.inProgress), at: .zero)
        _ = m.executionFinished(.output, at: .zero)
        _ = m.completionAnswered(.failure(.notFound), at: .zero, jitter: 0.5)
        guard case .undelivered? = finished(m.runLookedUp(nil, for: .completion, at: .zero, jitter: 0.5)) else { Issue.record("expected undelivered"); return }
    }

    @Test func anAbortWhileTheCompletionIsRetriedStillEndsTheTask() {
        var m = machine()
        _ = m.start(.execute, at: .zero)
        _ = m.heartbeatAnswered(.success(.inProgress), at: .zero)
        _ = m.executionFinished(.output, at: .zero)
        _ = m.completionAnswered(.failure(.unavailable("x")), at: .zero, jitter: 0.5)
        _ = m.timerFired(.beat, at: .seconds(1))
        #expect(finished(m.heartbeatAnswered(.success(.shouldAbort), at: .seconds(1))) == .aborted("should_abort"))
        #expect(m.timerFired(.completeRetry, at: .seconds(2)) == [])
    }

    @Test func listComponentsIsAnsweredWithoutClaimOrHeartbeat() {
        var m = machine(runID: nil)
        #expect(m.start(.listComponents, at: .zero) == [.sendCompletion(url: "http://a")])
        #expect(finished(m.completionAnswered(.success(()), at: .zero, jitter: 0.5)) == .completed(.components))
        var lost = machine(runID: nil)
        _ = lost.start(.listComponents, at: .zero)
        guard case .undelivered? = finished(lost.completionAnswered(.failure(.notFound), at: .zero, jitter: 0.5)) else { Issue.record("expected undelivered"); return }
    }

    @Test func anEmptyTaskAndACancelledExecutionEndAtOnce() {
        var empty = machine()
        #expect(finished(empty.start(.empty, at: .zero)) == .notClaimed("empty task"))
        var m = machine()
        _ = m.start(.execute, at: .zero)
        _ = m.heartbeatAnswered(.success(.inProgress), at: .zero)
        #expect(finished(m.executionFinished(nil, at: .zero)) == .aborted("cancelled"))
    }

    @Test func unexpectedEventsEndTheTaskInsteadOfGuessing() {
        var m = machine()
        guard case .aborted? = finished(m.completionAnswered(.success(()), at: .zero, jitter: 0.5)) else { Issue.record("expected aborted"); return }
    }

    @Test func errorsAreClassifiedByTheirStatusCode() {
        typealias Runner = TaskRunner<FakeComponent, FakeOrchestrator, FakeTaskSource, FakeBlobs>
        #expect(Runner.classify(RPCErrorFor.notFound) == .notFound)
        #expect(Runner.classify(RPCErrorFor.unavailable) == .unavailable("down"))
        #expect(Runner.classify(CancellationError()) == .cancelled)
        #expect(Runner.classify(RPCErrorFor.internalError) == .other("\(RPCErrorFor.internalError)"))
        var response = Stepflow_V1_TaskHeartbeatResponse()
        response.status = .alreadyClaimed
        #expect(Runner.answer(response) == .alreadyClaimed)
        #expect(Runner.answer(.abort) == .shouldAbort)
        #expect(Runner.answer(.inProgress) == .inProgress)
    }
}

import GRPCCore

enum RPCErrorFor {
    static let notFound = RPCError(code: .notFound, message: "gone")
    static let unavailable = RPCError(code: .unavailable, message: "down")
    static let internalError = RPCError(code: .internalError, message: "boom")
}

/// The pull loop's decisions with no clock, no stream.
@Suite struct PullStateMachineTests {
    func machine() -> PullStateMachine {
        PullStateMachine(reconnect: .unbounded(baseDelay: .milliseconds(125), maxDelay: .seconds(30)), maxAssignmentBytes: 1000)
    }

    func delay(_ actions: [PullStateMachine.Action]) -> Duration? {
        for case .reopen(let after) in actions { return after }
        return nil
    }

    /// A peer that accepts streams and ends them at once must not get a reconnect every few
    /// hundred milliseconds: the back-off starts over only after a stream lived 30 s or
    /// delivered a task.
    @Test func theBackOffStartsOverOnlyAfterAHealthyStream() {
        var m = machine()
        #expect(delay(m.streamEnded(.failed("refused"), at: .zero, jitter: 0.5)) == .milliseconds(250))
        _ = m.streamOpened(at: .seconds(1), queue: "q")
        #expect(delay(m.streamEnded(.ended, at: .seconds(1) + .milliseconds(50), jitter: 0.5)) == .milliseconds(500))
        _ = m.streamOpened(at: .seconds(2), queue: "q")
        #expect(delay(m.streamEnded(.ended, at: .seconds(31), jitter: 0.5)) == .milliseconds(1000))
        #expect(m.failures == 3)
        _ = m.streamOpened(at: .seconds(40), queue: "q")
        #expect(delay(m.streamEnded(.ended, at: .seconds(70), jitter: 0.5)) == .milliseconds(125))
        #expect(m.failures == 0)
        _ = m.streamOpened(at: .seconds(80), queue: "q")
        m.assignmentDelivered()
        #expect(delay(m.streamEnded(.failed("reset"), at: .seconds(80), jitter: 0.5)) == .milliseconds(125))
        // Accepted then ended at once, over and over: the delay keeps growing to the cap.
        var flapping = machine()
        let delays = (0..<12).compactMap { second -> Duration? in
            _ = flapping.streamOpened(at: .seconds(second), queue: "q")
            return delay(flapping.streamEnded(.ended, at: .seconds(second), jitter: 0.5))
        }
        #expect(delays.last == .seconds(30) && delays == delays.sorted())
    }

    @Test func readinessFollowsTheStreamAndAnEndLogsWhy() {
        var m = machine()
        #expect(m.streamOpened(at: .zero, queue: "ingest") == [.markConnected, .log(.info, "pull stream connected", ["queue": "ingest"])])
        let actions = m.streamEnded(.failed("unavailable: restarting"), at: .seconds(1), jitter: 0.5)
        #expect(actions.contains(.markDisconnected))
        #expect(actions.contains { if case .log(.warning, _, let metadata) = $0 { metadata["error"] == "unavailable: restarting" } else { false } })
        #expect(m.streamEnded(.cancelled, at: .seconds(2), jitter: 0.5) == [.markDisconnected, .stop])
    }

    /// A stream ended by an assignment over STEPFLOW_MAX_ASSIGNMENT_BYTES is no failure: the
    /// orchestrator handed over a task, so the next stream opens at once and readiness stays.
    @Test func anOversizedAssignmentIsCountedAndReopenedAtOnce() {
        var m = machine()
        _ = m.streamEnded(.failed("refused"), at: .zero, jitter: 0.5)
        _ = m.streamOpened(at: .seconds(1), queue: "q")
        let actions = m.streamEnded(.oversizedAssignment("resourceExhausted"), at: .seconds(1), jitter: 0.5)
        #expect(actions.contains(.countOversizedAssignment))
        #expect(!actions.contains(.markDisconnected))
        #expect(delay(actions) == .zero)
        #expect(m.failures == 0)
        #expect(actions.contains { if case .log(.error, let text, _) = $0 { text.contains("STEPFLOW_MAX_ASSIGNMENT_BYTES (1000)") } else { false } })
    }

    @Test func theReceiveLimitErrorIsRecognised() {
        #expect(PullLoop<FakeTaskSource>.isOversizedMessage(RPCError(code: .resourceExhausted, message: "x")))
        #expect(PullLoop<FakeTaskSource>.isOversizedMessage(RPCError(code: .internalError, message: "Message has exceeded the configured maximum payload size (max: 1, actual: 2)")))
        #expect(!PullLoop<FakeTaskSource>.isOversizedMessage(RPCError(code: .internalError, message: "Failed to decode message")))
    }
}

/// The outcome is shaped once, straight to protobuf, with the same values the JSON path gave.
@Suite struct ProtobufValueEncoderTests {
    @Test func anOutcomeEncodesToTheValuesItsJSONGives() throws {
        let outcomes = [
            DocumentOutcome(source: "/data/a.pdf", documentID: "d1", filename: "a.pdf", status: .indexed, chunks: 3, index: "docs", pages: 2, warnings: [IngestWarning("w")], timings: .init(convert: 0.1, chunk: 1, embed: 2.5, index: 1e-7)),
            DocumentOutcome(source: "s3://x", status: .failed, error: .init(reason: .parseFailed, message: "bad \"pdf\" é")),
        ]
        for outcome in outcomes {
            let json = ComponentOutput(outcome).json
            let viaJSON = ProtobufJSON.value(try JSONValue.parse(json, what: "outcome"))
            #expect(try ProtobufValueEncoder().encode(outcome) == viaJSON)
            // And what protobuf's own JSON reader makes of the bytes.
            #expect(try ProtobufValueEncoder().encode(outcome) == Google_Protobuf_Value(jsonUTF8Data: json))
        }
    }

    @Test func aFailuresDataCarriesTheOutcomeReasonAndSource() throws {
        let outcome = DocumentOutcome(source: "/data/bad.pdf", status: .failed, error: .init(reason: .parseFailed, message: "m"))
        let error = TaskErrorMapping.taskError(ComponentFailure(reason: .parseFailed, source: "/data/bad.pdf", message: "m", outcome: ComponentOutput(outcome)))
        let json = try JSONValue.parse(ComponentOutput(outcome).json, what: "outcome")
        #expect(error.data.fields.mapValues(ProtobufJSON.json) == ["outcome": json, "reason": "parse_failed", "source": "/data/bad.pdf"])
    }

    @Test func nonFiniteNumbersAreRefused() {
        #expect(throws: EncodingError.self) { try ProtobufValueEncoder().encode(["x": Double.nan]) }
    }
}
