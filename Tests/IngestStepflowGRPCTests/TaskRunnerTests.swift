import Foundation
import GRPCCore
import IngestCore
import IngestKit
import Logging
import SwiftProtobuf
import Testing

@testable import IngestStepflowGRPC

@Suite(.timeLimit(.minutes(2))) struct TaskRunnerTests {
    @Test func claimsHeartbeatsAndCompletesWithTheOutput() async throws {
        let orchestrator = FakeOrchestrator()
        let component = FakeComponent(.succeed(["status": "indexed", "chunks": 3]))
        let outcome = await makeRunner(component, orchestrator: orchestrator).run(received(executeTask("t1")))

        #expect(outcome == .completed(.output))
        let calls = orchestrator.calls
        #expect(calls.first == .init(method: "heartbeat", url: "http://orch-a:7840", taskID: "t1", runID: "run-1"))
        #expect(orchestrator.completeCalls == [.init(method: "complete", url: "http://orch-a:7840", taskID: "t1", runID: "run-1")])
        let request = try #require(orchestrator.acknowledged.first)
        guard case .response(let response) = request.result else { Issue.record("expected an output, got \(String(describing: request.result))"); return }
        #expect(ProtobufJSON.json(response.output) == ["status": "indexed", "chunks": 3])
        #expect(component.receivedInputs == [["source": "/data/a.pdf"]])
    }

    @Test func claimRefusedByAnotherWorkerExecutesNothingAndSendsNothing() async {
        let orchestrator = FakeOrchestrator(heartbeat: { _, _, _ in .alreadyClaimed })
        let component = FakeComponent(.succeed(.null))
        let outcome = await makeRunner(component, orchestrator: orchestrator).run(received(executeTask("t1")))

        guard case .notClaimed = outcome else { Issue.record("expected notClaimed, got \(outcome)"); return }
        #expect(component.executions == 0)
        #expect(orchestrator.completeCalls.isEmpty)
    }

    @Test func claimAnsweredUnavailableIsRetriedAtTheNextBeat() async {
        let orchestrator = FakeOrchestrator(heartbeat: { _, _, index in
            if index == 0 { throw RPCError(code: .unavailable, message: "run recovering") }
            return .inProgress
        })
        let component = FakeComponent(.succeed(["status": "indexed"]))
        let clock = ManualClock()
        async let outcome = makeRunner(component, orchestrator: orchestrator, clock: clock).run(received(executeTask("t1")))
        await clock.untilSleepers(1)
        #expect(component.executions == 0)
        clock.advance(by: .seconds(1))

        #expect(await outcome == .completed(.output))
        #expect(orchestrator.heartbeats.count == 2)
        #expect(component.executions == 1)
        #expect(clock.requested.first == .seconds(1))
    }

    @Test func heartbeatAnsweringShouldAbortCancelsTheDocumentAndSendsNoCompletion() async {
        // Claim accepted, the next beat (1 s later) says abort.
        let orchestrator = FakeOrchestrator(heartbeat: { _, _, index in index == 0 ? .inProgress : .abort })
        let component = FakeComponent(.hang)
        let clock = ManualClock()
        async let outcome = makeRunner(component, orchestrator: orchestrator, clock: clock).run(received(executeTask("t1")))
        await clock.untilSleepers(1)
        clock.advance(by: .seconds(1))

        #expect(await outcome == .aborted("should_abort"))
        #expect(component.cancellations == 1)
        #expect(orchestrator.completeCalls.isEmpty)
    }

    @Test func heartbeatsGoOnWhileTheDocumentRunsAndUnavailableBeatsAreRetried() async {
        let orchestrator = FakeOrchestrator(heartbeat: { _, _, index in
            if index == 1 { throw RPCError(code: .unavailable, message: "run recovering") }
            return .inProgress
        })
        let component = FakeComponent(.waitForRelease)
        let clock = ManualClock()
        let runner = makeRunner(component, orchestrator: orchestrator, clock: clock)
        async let outcome = runner.run(received(executeTask("t1", interval: 2)))
        // Claim + two beats (one of them UNAVAILABLE) while the document runs, one per interval.
        for _ in 0..<2 {
            await clock.untilSleepers(1)
            clock.advance(by: .seconds(2))
        }
        await clock.untilSleepers(1)
        #expect(orchestrator.heartbeats.count == 3)
        #expect(orchestrator.completeCalls.isEmpty)
        #expect(clock.requested == [.seconds(2), .seconds(2), .seconds(2)])
        component.release()
        #expect(await outcome == .completed(.output))
        #expect(orchestrator.heartbeats.allSatisfy { $0.runID == "run-1" && $0.url == "http://orch-a:7840" })
    }

    @Test func completionIsRetriedOnUnavailable() async {
        let orchestrator = FakeOrchestrator(complete: { _, _, index in
            if index < 2 { throw RPCError(code: .unavailable, message: "recovering") }
        })
        let clock = ManualClock()
        async let outcome = makeRunner(FakeComponent(.succeed(["status": "indexed"])), orchestrator: orchestrator, clock: clock).run(received(executeTask("t1")))
        // The beat waits 1 s; each retry waits the back-off (1 ms, then 2 ms: jitter 0.5).
        for _ in 0..<2 {
            await clock.untilSleepers(2)
            clock.advance(by: .milliseconds(5))
        }

        #expect(await outcome == .completed(.output))
        #expect(orchestrator.completeCalls.count == 3)
        #expect(orchestrator.acknowledged.count == 1)
        #expect(clock.requested.sorted() == [.milliseconds(1), .milliseconds(2), .seconds(1)])
    }

    @Test func completionAnsweredNotFoundFollowsTheRunToItsOrchestrator() async {
        let source = FakeTaskSource([], redirects: ["run-1": "http://orch-b:7840"])
        let orchestrator = FakeOrchestrator(complete: { _, url, _ in
            if url == "http://orch-a:7840" { throw RPCError(code: .notFound, message: "task not on this orchestrator") }
        })
        let outcome = await makeRunner(FakeComponent(.succeed(["status": "indexed"])), orchestrator: orchestrator, source: source).run(received(executeTask("t1")))

        #expect(outcome == .completed(.output))
        #expect(orchestrator.completeCalls.map(\.url) == ["http://orch-a:7840", "http://orch-b:7840"])
        #expect(orchestrator.completeCalls.allSatisfy { $0.runID == "run-1" })
    }

    @Test func aResultNoOrchestratorKnowsIsLeftToReassignment() async {
        let orchestrator = FakeOrchestrator(complete: { _, _, _ in throw RPCError(code: .notFound, message: "gone") })
        let outcome = await makeRunner(FakeComponent(.succeed(["status": "indexed"])), orchestrator: orchestrator).run(received(executeTask("t1")))

        guard case .undelivered = outcome else { Issue.record("expected undelivered, got \(outcome)"); return }
        #expect(orchestrator.completeCalls.count == 1)
    }

    @Test func aFailedDocumentCompletesWithItsCodeMessageAndData() async throws {
        let failure = ComponentFailure(reason: .parseFailed, source: "/data/bad.pdf", message: "Ingest failed for '/data/bad.pdf' [parse_failed]: Docling could not parse it; check the file")
        let orchestrator = FakeOrchestrator()
        let outcome = await makeRunner(FakeComponent(.fail(failure)), orchestrator: orchestrator).run(received(executeTask("t1")))

        #expect(outcome == .completed(.error(.invalidInput)))
        let request = try #require(orchestrator.acknowledged.first)
        guard case .error(let error) = request.result else { Issue.record("expected an error"); return }
        #expect(error.code == .invalidInput)
        #expect(error.message == failure.message)
        #expect(error.data.fields.mapValues(ProtobufJSON.json) == ["reason": "parse_failed", "source": "/data/bad.pdf"])
    }

    @Test func anUnknownComponentCompletesWithComponentNotFound() async {
        let orchestrator = FakeOrchestrator()
        let component = FakeComponent(.succeed(.null))
        let outcome = await makeRunner(component, orchestrator: orchestrator).run(received(executeTask("t1", component: "other")))

        #expect(outcome == .completed(.error(.componentNotFound)))
        #expect(component.executions == 0)
    }

    @Test func anInputOverTheLimitFailsWithInvalidInput() async {
        let orchestrator = FakeOrchestrator()
        let component = FakeComponent(.succeed(.null))
        let big = String(repeating: "a", count: 2 * 1024 * 1024)
        let outcome = await makeRunner(component, orchestrator: orchestrator).run(received(executeTask("t1", input: ["source": ["base64": .string(big), "filename": "a.pdf"]])))

        #expect(outcome == .completed(.error(.invalidInput)))
        #expect(component.executions == 0)
        // The run's error says which limit, its value and what to do.
        let request = orchestrator.acknowledged.first
        guard case .error(let error)? = request?.result else { Issue.record("expected an error result"); return }
        #expect(error.message.contains("INGEST_MAX_BODY_BYTES (\(fastPolicy.maxInputBytes) bytes)"), "\(error.message)")
        #expect(error.message.contains("blob_id"))
    }

    /// The size checked, and counted by the component, is the one the assignment had on the
    /// wire: the input is not encoded again to measure it.
    @Test func theInputIsMeasuredFromTheReceivedSize() async {
        let orchestrator = FakeOrchestrator()
        let component = FakeComponent(.succeed(.null))
        let small = executeTask("t1")
        let refused = await makeRunner(component, orchestrator: orchestrator).run(ReceivedAssignment(small, bytes: fastPolicy.maxInputBytes + 1))
        #expect(refused == .completed(.error(.invalidInput)))
        #expect(component.executions == 0)

        let outcome = await makeRunner(component, orchestrator: orchestrator).run(ReceivedAssignment(small, bytes: 4242))
        #expect(outcome == .completed(.output))
        #expect(component.receivedInputBytes == [4242])
    }

    @Test func listComponentsIsAnsweredWithTheCatalogAndNotClaimed() async throws {
        let orchestrator = FakeOrchestrator()
        let outcome = await makeRunner(FakeComponent(.succeed(.null)), orchestrator: orchestrator).run(received(listTask("l1")))

        #expect(outcome == .completed(.components))
        #expect(orchestrator.heartbeats.isEmpty)
        let request = try #require(orchestrator.acknowledged.first)
        guard case .listComponents(let list) = request.result else { Issue.record("expected list_components"); return }
        let info = try #require(list.components.first)
        #expect(info.componentID == "ingest")
        #expect(info.path == "/ingest")
        #expect(info.description_p == "Ingest one document.")
        #expect(try JSONValue.parse(Data(info.inputSchema.utf8), what: "schema") == ["type": "object"])
        #expect(request.hasRunID == false)
    }

    @Test func aTaskWithoutAnOrchestratorURLCompletesAtTheTasksAddress() async {
        let orchestrator = FakeOrchestrator()
        let outcome = await makeRunner(FakeComponent(.succeed(.null)), orchestrator: orchestrator).run(received(executeTask("t1", orchestrator: "")))

        #expect(outcome == .completed(.output))
        #expect(orchestrator.calls.allSatisfy { $0.url == "http://tasks:7840" })
    }
}

@Suite struct TaskErrorMappingTests {
    @Test(arguments: [
        (IngestError.Reason.invalidInput, Stepflow_V1_TaskErrorCode.invalidInput),
        (.unreadable, .invalidInput),
        (.unsupportedFormat, .invalidInput),
        (.emptyDocument, .invalidInput),
        (.parseFailed, .invalidInput),
        (.tooLarge, .invalidInput),
        (.serviceUnavailable, .resourceUnavailable),
        (.embedFailed, .resourceUnavailable),
        (.leaseTimeout, .resourceUnavailable),
        (.leaseLost, .resourceUnavailable),
        (.resourceUnavailable, .resourceUnavailable),
        (.cancelled, .componentFailed),
        (.authFailed, .componentFailed),
        (.dimensionMismatch, .componentFailed),
        (.embedRejected, .componentFailed),
        (.indexRejected, .componentFailed),
        (.parseTimeout, .componentFailed),
        (.configuration, .componentFailed),
        (.internalError, .workerError),
    ])
    func reasonMapsToTheCodeOfTheIssueTable(reason: IngestError.Reason, code: Stepflow_V1_TaskErrorCode) {
        #expect(TaskErrorMapping.code(for: reason) == code)
    }

    @Test func neverTimeoutNorUnreachable() {
        for reason in IngestError.Reason.allCases {
            #expect(![.timeout, .unreachable].contains(TaskErrorMapping.code(for: reason)))
        }
    }
}
