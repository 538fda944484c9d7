import Foundation
import GRPCCore
import IngestKit
import Logging
import Synchronization
import Testing

@testable import IngestStepflowGRPC

@Suite struct PullLoopTests {
    func settings(maxConcurrent: Int) -> GRPCWorkerSettings {
        var settings = GRPCWorkerSettings(tasks: GRPCEndpoint(host: "tasks", port: 7840, tls: false), queueName: "ingest", maxConcurrent: maxConcurrent)
        settings.reconnect = Backoff(initial: .milliseconds(1), maximum: .milliseconds(5))
        return settings
    }

    /// Runs a worker loop over the fakes while `body` runs, then cancels it.
    func withWorker(
        source: FakeTaskSource,
        component: FakeComponent,
        orchestrator: FakeOrchestrator = FakeOrchestrator(),
        maxConcurrent: Int,
        status: PullStatus = PullStatus(),
        onOversizedAssignment: @escaping @Sendable () -> Void = {},
        _ body: () async -> Void
    ) async {
        let runner = makeRunner(component, orchestrator: orchestrator, source: source)
        let loop = WorkerLoop(
            source: source, runner: runner, settings: settings(maxConcurrent: maxConcurrent), workerID: "worker-1", status: status, logger: Logger(label: "test"),
            onOversizedAssignment: onOversizedAssignment
        )
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await loop.run() }
            await body()
            group.cancelAll()
        }
    }

    @Test func aSlotIsTakenBeforeTheNextAssignmentIsRead() async {
        // One slot, two tasks waiting in the stream: the second must stay unread (and so
        // unclaimed by us, free for another worker) until the first one ends.
        let source = FakeTaskSource([.stream([.assignment(executeTask("t1")), .assignment(executeTask("t2")), .stayOpen])])
        let component = FakeComponent(.waitForRelease)
        let orchestrator = FakeOrchestrator()
        await withWorker(source: source, component: component, orchestrator: orchestrator, maxConcurrent: 1) {
            #expect(await eventually { component.executions == 1 })
            try? await Task.sleep(for: .milliseconds(200))
            #expect(source.assignmentsRead == 1)
            component.release()
            #expect(await eventually { component.executions == 2 })
            #expect(source.assignmentsRead == 2)
            component.release()
            #expect(await eventually { orchestrator.acknowledged.count == 2 })
        }
    }

    @Test func tasksRunConcurrentlyUpToTheLimit() async {
        let source = FakeTaskSource([.stream([.assignment(executeTask("t1")), .assignment(executeTask("t2")), .assignment(executeTask("t3")), .stayOpen])])
        let component = FakeComponent(.waitForRelease)
        await withWorker(source: source, component: component, maxConcurrent: 2) {
            #expect(await eventually { component.executions == 2 })
            try? await Task.sleep(for: .milliseconds(200))
            #expect(source.assignmentsRead == 2)
            component.release()
            #expect(await eventually { component.executions == 3 })
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
        await withWorker(source: source, component: component, orchestrator: orchestrator, maxConcurrent: 2, status: status) {
            #expect(await eventually { orchestrator.acknowledged.count == 1 })
            #expect(source.streamsOpened == 3)
            #expect(status.isReady)
        }
        #expect(source.pullRequests.count == 4)
        #expect(source.pullRequests.allSatisfy { $0.queueName == "ingest" && $0.workerID == "worker-1" })
    }

    /// An assignment over STEPFLOW_MAX_ASSIGNMENT_BYTES kills the stream inside grpc-swift
    /// (RESOURCE_EXHAUSTED from the reader): it is counted once, the slot is given back, and the
    /// next stream delivers the next task.
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
        await withWorker(source: source, component: FakeComponent(.succeed(["status": "indexed"])), orchestrator: orchestrator, maxConcurrent: 1, status: status,
                         onOversizedAssignment: { oversized.add(1, ordering: .relaxed) }) {
            #expect(await eventually { orchestrator.acknowledged.count == 1 })
            #expect(status.isReady)
        }
        #expect(oversized.load(ordering: .relaxed) == 2)
        #expect(source.streamsOpened == 3)
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
                         onOversizedAssignment: { oversized.add(1, ordering: .relaxed) }) {
            #expect(await eventually { orchestrator.acknowledged.count == 1 })
        }
        #expect(oversized.load(ordering: .relaxed) == 0)
    }

    @Test func readinessFollowsTheStream() async {
        let status = PullStatus()
        let source = FakeTaskSource([.stream([.stayOpen])])
        await withWorker(source: source, component: FakeComponent(.succeed(.null)), maxConcurrent: 1, status: status) {
            #expect(await eventually { status.isReady })
        }
        #expect(status.isConnected == false)
        #expect(status.isReady == false)
    }
}

@Suite struct BackoffTests {
    /// A peer that accepts streams and ends them at once must not get a reconnect every few
    /// hundred milliseconds: the back-off starts over only after a stream lived 30 s or
    /// delivered a task.
    @Test func theBackOffStartsOverOnlyAfterAHealthyStream() {
        var state = ReconnectState()
        #expect(state.streamEnded(connected: false, lived: .zero, deliveredTask: false) == 1)
        #expect(state.streamEnded(connected: true, lived: .milliseconds(50), deliveredTask: false) == 2)
        #expect(state.streamEnded(connected: true, lived: .seconds(29), deliveredTask: false) == 3)
        #expect(state.streamEnded(connected: true, lived: .seconds(30), deliveredTask: false) == 0)
        #expect(state.streamEnded(connected: false, lived: .zero, deliveredTask: false) == 1)
        #expect(state.streamEnded(connected: true, lived: .milliseconds(10), deliveredTask: true) == 0)
        // Accepted then ended at once, over and over: the delay keeps growing to the cap.
        let backoff = Backoff(initial: .milliseconds(125), maximum: .seconds(30), jitter: 0)
        var flapping = ReconnectState()
        let delays = (0..<10).map { _ in backoff.delay(attempt: flapping.streamEnded(connected: true, lived: .milliseconds(5), deliveredTask: false)) }
        #expect(delays.last == .seconds(30) && delays == delays.sorted())
    }

    /// A stream ended by an assignment over STEPFLOW_MAX_ASSIGNMENT_BYTES is no failure: the
    /// orchestrator handed over a task, so the next stream opens after the shortest delay.
    @Test func anOversizedAssignmentIsNotAFailure() {
        var state = ReconnectState()
        #expect(state.streamEnded(connected: false, lived: .zero, deliveredTask: false) == 1)
        #expect(state.streamEnded(connected: true, lived: .milliseconds(5), deliveredTask: false) == 2)
        #expect(state.streamEnded(connected: true, lived: .milliseconds(5), deliveredTask: false, oversizedAssignment: true) == 0)
        #expect(state.streamEnded(connected: true, lived: .milliseconds(5), deliveredTask: false, oversizedAssignment: true) == 0)
        #expect(state.failures == 0)
    }

    @Test func growsExponentiallyUpToTheCap() {
        let backoff = Backoff(initial: .milliseconds(100), maximum: .seconds(2), jitter: 0)
        #expect(backoff.delay(attempt: 0, random: 0.7) == .milliseconds(100))
        #expect(backoff.delay(attempt: 1, random: 0.7) == .milliseconds(200))
        #expect(backoff.delay(attempt: 3, random: 0.7) == .milliseconds(800))
        #expect(backoff.delay(attempt: 10, random: 0.7) == .seconds(2))
        #expect(backoff.delay(attempt: 1_000, random: 0.7) == .seconds(2))
    }

    @Test func jitterTakesUpToItsShareOff() {
        let backoff = Backoff(initial: .seconds(1), maximum: .seconds(10), jitter: 0.5)
        #expect(backoff.delay(attempt: 0, random: 0) == .seconds(1))
        #expect(backoff.delay(attempt: 0, random: 0.99) == .milliseconds(505))
        #expect(backoff.delay(attempt: 0, random: 0.5) == .milliseconds(750))
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
