import Foundation
import GRPCCore
import IngestKit
import Logging
import Synchronization
import Testing

@testable import IngestStepflowGRPC

@Suite(.timeLimit(.minutes(2))) struct PullLoopTests {
    func settings(maxConcurrent: Int) -> GRPCWorkerSettings {
        var settings = GRPCWorkerSettings(tasks: GRPCEndpoint(host: "tasks", port: 7840, tls: false), queueName: "ingest", maxConcurrent: maxConcurrent)
        settings.reconnect = .unbounded(baseDelay: .milliseconds(250), maxDelay: .seconds(10))
        return settings
    }

    /// Runs a worker loop over the fakes while `body` runs, then cancels it. The loop's back-off
    /// runs on an auto-advancing clock (reconnects are instant, virtual time moves); the
    /// runner's clock never moves (no beat after the claim).
    func withWorker(
        source: FakeTaskSource,
        component: FakeComponent,
        orchestrator: FakeOrchestrator = FakeOrchestrator(),
        maxConcurrent: Int,
        status: PullStatus = PullStatus(),
        loopClock: ManualClock = ManualClock(autoAdvance: true),
        onOversizedAssignment: @escaping @Sendable () -> Void = {},
        _ body: (WorkerLoop<FakeComponent, FakeOrchestrator, FakeTaskSource, FakeBlobs>) async -> Void
    ) async {
        let runner = makeRunner(component, orchestrator: orchestrator, source: source)
        let loop = WorkerLoop(
            source: source, runner: runner, settings: settings(maxConcurrent: maxConcurrent), workerID: "worker-1", status: status, logger: Logger(label: "test"),
            onOversizedAssignment: onOversizedAssignment, clock: loopClock, jitter: { 0.5 }
        )
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await loop.run() }
            await body(loop)
            group.cancelAll()
        }
    }

    /// Returns once the pull loop waits for a free slot (so it is not reading the stream).
    func untilWaitingForASlot(_ loop: WorkerLoop<FakeComponent, FakeOrchestrator, FakeTaskSource, FakeBlobs>) async {
        while loop.slots.waiting == 0 { await Task.yield() }
    }

    @Test func aSlotIsTakenBeforeTheNextAssignmentIsRead() async {
        // One slot, two tasks waiting in the stream: the second must stay unread (and so
        // unclaimed by us, free for another worker) until the first one ends.
        let source = FakeTaskSource([.stream([.assignment(executeTask("t1")), .assignment(executeTask("t2")), .stayOpen])])
        let component = FakeComponent(.waitForRelease)
        let orchestrator = FakeOrchestrator()
        await withWorker(source: source, component: component, orchestrator: orchestrator, maxConcurrent: 1) { loop in
            await component.progress.until { component.executions == 1 }
            await untilWaitingForASlot(loop)
            #expect(source.assignmentsRead == 1)
            component.release()
            await component.progress.until { component.executions == 2 }
            #expect(source.assignmentsRead == 2)
            component.release()
            await orchestrator.progress.until { orchestrator.acknowledged.count == 2 }
        }
    }

    @Test func tasksRunConcurrentlyUpToTheLimit() async {
        let source = FakeTaskSource([.stream([.assignment(executeTask("t1")), .assignment(executeTask("t2")), .assignment(executeTask("t3")), .stayOpen])])
        let component = FakeComponent(.waitForRelease)
        await withWorker(source: source, component: component, maxConcurrent: 2) { loop in
            await component.progress.until { component.executions == 2 }
            await untilWaitingForASlot(loop)
            #expect(source.assignmentsRead == 2)
            component.release()
            await component.progress.until { component.executions == 3 }
            component.release()
            component.release()
        }
    }

    @Test func theStreamIsReopenedAfterFailuresAndTheWorkerIdIsSent() async {
        let source = FakeTaskSource([
            .refuse(RPCError(code: .unavailable, message: "connection refused")),
            .stream([.fail(RPCError(code: .unavailable, message: "orchestrator restarted"))]),
            .stream([.end]),
            .stream([.assignment(executeTask("t1")), .stayOpen]),
        ])
        let component = FakeComponent(.succeed(["status": "indexed"]))
        let orchestrator = FakeOrchestrator()
        let status = PullStatus()
        let clock = ManualClock(autoAdvance: true)
        await withWorker(source: source, component: component, orchestrator: orchestrator, maxConcurrent: 2, status: status, loopClock: clock) { _ in
            await orchestrator.progress.until { orchestrator.acknowledged.count == 1 }
            #expect(source.streamsOpened == 3)
            #expect(status.isReady)
        }
        #expect(source.pullRequests.count == 4)
        #expect(source.pullRequests.allSatisfy { $0.queueName == "ingest" && $0.workerID == "worker-1" })
        // Three failed streams in a row: the back-off doubles from 2 x 250 ms (jitter 0.5 is x1).
        #expect(clock.requested == [.milliseconds(500), .milliseconds(1000), .milliseconds(2000)])
    }

    /// An assignment over STEPFLOW_MAX_ASSIGNMENT_BYTES kills the stream inside grpc-swift
    /// (RESOURCE_EXHAUSTED from the reader): it is counted once, the slot is given back, and the
    /// next stream delivers the next task at once.
    @Test func anOversizedAssignmentIsCountedAndTheNextStreamServes() async {
        let oversized = Atomic<Int>(0)
        let source = FakeTaskSource([
            // What grpc-swift-nio-transport 2.x reports (seen against stepflow-server 0.13.0).
            .stream([.fail(RPCError(code: .internalError, message: #"Failed to decode message resourceExhausted: "Message has exceeded the configured maximum payload size (max: 1000000, actual: 1200414)""#))]),
            .stream([.fail(RPCError(code: .resourceExhausted, message: "Message has exceeded the configured maximum payload size (max: 1000, actual: 5000)"))]),
            .stream([.assignment(executeTask("t1")), .stayOpen]),
        ])
        let orchestrator = FakeOrchestrator()
        let status = PullStatus()
        let clock = ManualClock(autoAdvance: true)
        await withWorker(source: source, component: FakeComponent(.succeed(["status": "indexed"])), orchestrator: orchestrator, maxConcurrent: 1, status: status,
                         loopClock: clock, onOversizedAssignment: { oversized.add(1, ordering: .relaxed) }) { _ in
            await orchestrator.progress.until { orchestrator.acknowledged.count == 1 }
            #expect(status.isReady)
        }
        #expect(oversized.load(ordering: .relaxed) == 2)
        #expect(source.streamsOpened == 3)
        #expect(clock.requested.isEmpty)
    }

    @Test func otherStreamFailuresAreNotCountedAsOversized() async {
        let oversized = Atomic<Int>(0)
        let source = FakeTaskSource([
            .refuse(RPCError(code: .resourceExhausted, message: "too many streams")),
            .stream([.fail(RPCError(code: .unavailable, message: "orchestrator restarted"))]),
            .stream([.fail(RPCError(code: .internalError, message: "Failed to decode message"))]),
            .stream([.assignment(executeTask("t1")), .stayOpen]),
        ])
        let orchestrator = FakeOrchestrator()
        await withWorker(source: source, component: FakeComponent(.succeed(.null)), orchestrator: orchestrator, maxConcurrent: 1,
                         onOversizedAssignment: { oversized.add(1, ordering: .relaxed) }) { _ in
            await orchestrator.progress.until { orchestrator.acknowledged.count == 1 }
        }
        #expect(oversized.load(ordering: .relaxed) == 0)
    }

    @Test func readinessFollowsTheStream() async {
        let status = PullStatus()
        let source = FakeTaskSource([.stream([.stayOpen])])
        await withWorker(source: source, component: FakeComponent(.succeed(.null)), maxConcurrent: 1, status: status) { _ in
            await source.progress.until { source.readsStarted >= 1 }
            #expect(status.isReady)
        }
        #expect(status.isConnected == false)
        #expect(status.isReady == false)
    }

    /// The assignment's size on the wire reaches the component (the fake source reports the
    /// encoded size, as the gRPC deserializer does).
    @Test func theReceivedSizeTravelsWithTheAssignment() async {
        let task = executeTask("t1")
        let source = FakeTaskSource([.stream([.assignment(task), .stayOpen])])
        let component = FakeComponent(.succeed(.null))
        let orchestrator = FakeOrchestrator()
        await withWorker(source: source, component: component, orchestrator: orchestrator, maxConcurrent: 1) { _ in
            await orchestrator.progress.until { orchestrator.acknowledged.count == 1 }
        }
        #expect(component.receivedInputBytes == [received(task).bytes])
    }
}

@Suite struct GRPCWorkerSettingsTests {
    @Test func acceptsTheSDKsSpellingsOfTheAddress() throws {
        #expect(try GRPCEndpoint.parse("127.0.0.1:7840", what: "X") == GRPCEndpoint(host: "127.0.0.1", port: 7840, tls: false))
        #expect(try GRPCEndpoint.parse("http://stepflow-server:7840", what: "X") == GRPCEndpoint(host: "stepflow-server", port: 7840, tls: false))
        #expect(try GRPCEndpoint.parse("http://stepflow-server:7840/", what: "X") == GRPCEndpoint(host: "stepflow-server", port: 7840, tls: false))
        #expect(try GRPCEndpoint.parse("https://stepflow.example.com", what: "X") == GRPCEndpoint(host: "stepflow.example.com", port: 443, tls: true))
        #expect(try GRPCEndpoint.parse("[::1]:7840", what: "X") == GRPCEndpoint(host: "::1", port: 7840, tls: false))
    }

    @Test(arguments: ["stepflow-server", "ftp://x:1", "http://x:0", "http://x:7840/api", ":7840"])
    func refusesAddressesItCannotDial(_ text: String) {
        #expect(throws: IngestError.self) { try GRPCEndpoint.parse(text, what: "STEPFLOW_TASKS_URL") }
    }

    @Test func readsTheSDKsVariablesWithTheirDefaults() throws {
        let settings = try GRPCWorkerSettings.fromEnvironment(Environment(["STEPFLOW_TASKS_URL": "127.0.0.1:7840"]))
        #expect(settings.tasks == GRPCEndpoint(host: "127.0.0.1", port: 7840, tls: false))
        #expect(settings.blobs == settings.tasks)
        #expect(settings.queueName == "ingest")
        #expect(settings.maxConcurrent == 4)
        #expect(settings.maxMessageBytes == 64 * 1024 * 1024)

        let custom = try GRPCWorkerSettings.fromEnvironment(Environment([
            "STEPFLOW_TASKS_URL": "http://a:1", "STEPFLOW_BLOB_URL": "b:2", "STEPFLOW_QUEUE_NAME": "docs",
            "STEPFLOW_MAX_CONCURRENT": "8", "INGEST_MAX_BODY_BYTES": "1000",
        ]))
        #expect(custom.blobs == GRPCEndpoint(host: "b", port: 2, tls: false))
        #expect(custom.queueName == "docs")
        #expect(custom.maxConcurrent == 8)
        #expect(custom.taskPolicy.maxInputBytes == 1000)
        #expect(custom.maxAssignmentBytes == 4000)
    }

    /// The pull stream's receive limit: 4 x INGEST_MAX_BODY_BYTES by default, capped at
    /// Int32.max, never below INGEST_MAX_BODY_BYTES.
    @Test func theAssignmentLimitDefaultsToFourBodiesAndIsValidated() throws {
        let base = ["STEPFLOW_TASKS_URL": "127.0.0.1:7840"]
        #expect(try GRPCWorkerSettings.fromEnvironment(Environment(base)).maxAssignmentBytes == 256 * 1024 * 1024)
        let capped = try GRPCWorkerSettings.fromEnvironment(Environment(base.merging(["INGEST_MAX_BODY_BYTES": "1000000000"]) { $1 }))
        #expect(capped.maxAssignmentBytes == Int(Int32.max))
        let set = try GRPCWorkerSettings.fromEnvironment(Environment(base.merging(["INGEST_MAX_BODY_BYTES": "200000", "STEPFLOW_MAX_ASSIGNMENT_BYTES": "2000000"]) { $1 }))
        #expect(set.maxAssignmentBytes == 2_000_000 && set.maxMessageBytes == 200_000)
        for bad in ["199999", "0", "-1", "lots", "3000000000"] {
            #expect(throws: IngestError.self) {
                try GRPCWorkerSettings.fromEnvironment(Environment(base.merging(["INGEST_MAX_BODY_BYTES": "200000", "STEPFLOW_MAX_ASSIGNMENT_BYTES": bad]) { $1 }))
            }
        }
        do {
            _ = try GRPCWorkerSettings.fromEnvironment(Environment(base.merging(["INGEST_MAX_BODY_BYTES": "200000", "STEPFLOW_MAX_ASSIGNMENT_BYTES": "1000"]) { $1 }))
            Issue.record("STEPFLOW_MAX_ASSIGNMENT_BYTES below INGEST_MAX_BODY_BYTES was accepted")
        } catch {
            #expect(error.message.contains("STEPFLOW_MAX_ASSIGNMENT_BYTES=1000") && error.message.contains("INGEST_MAX_BODY_BYTES=200000"), "\(error.message)")
        }
    }

    @Test func thePullStreamReceivesUpToTheAssignmentLimit() {
        let calls = GRPCCallOptions(maxMessageBytes: 200_000, maxAssignmentBytes: 2_000_000)
        #expect(calls.pullOptions.maxRequestMessageBytes == 2_000_000)
        #expect(calls.pullOptions.maxResponseMessageBytes == 2_000_000)
        #expect(calls.options(timeout: .seconds(1)).maxRequestMessageBytes == 200_000)
    }

    @Test func theTransportComesFromTheOptionThenTheEnvironment() throws {
        let env = Environment(["STEPFLOW_TRANSPORT": "grpc", "STEPFLOW_TASKS_URL": "127.0.0.1:7840"])
        #expect(try GRPCWorkerSettings.selected(transportOption: nil, env) != nil)
        #expect(try GRPCWorkerSettings.selected(transportOption: "http", env) == nil)
        #expect(try GRPCWorkerSettings.selected(transportOption: nil, Environment([:])) == nil)
        #expect(throws: IngestError.self) { try GRPCWorkerSettings.selected(transportOption: "grpc", Environment([:])) }
        #expect(throws: IngestError.self) { try GRPCWorkerSettings.selected(transportOption: "nats", env) }
    }
}

@Suite struct ProtobufJSONTests {
    @Test func roundTripsJSON() {
        let value: JSONValue = ["source": ["path": "/a.pdf"], "options": ["max_tokens": 512, "ratio": 0.5], "tags": ["a", true, .null]]
        #expect(ProtobufJSON.json(ProtobufJSON.value(value)) == value)
    }
}
