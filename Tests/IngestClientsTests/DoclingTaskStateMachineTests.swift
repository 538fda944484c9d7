import IngestDocling
import IngestKit
import Testing

@Suite("Docling task state machine")
struct DoclingTaskStateMachineTests {
    typealias Machine = DoclingTaskStateMachine

    static let configuration = DoclingConfiguration(
        documentTimeout: .seconds(600),
        pollInterval: .milliseconds(100),
        maxPollInterval: .seconds(1),
        pollGrowth: 2,
        maxResubmits: 2
    )

    func machine() -> Machine {
        var machine = Machine(configuration: Self.configuration, source: "/docs/a.pdf")
        #expect(machine.start() == .submit)
        return machine
    }

    func failure(_ action: Machine.Action) -> IngestError? {
        if case .fail(let error) = action { return error }
        return nil
    }

    @Test func pendingThenStartedThenSuccessFetchesTheResult() {
        var machine = machine()
        #expect(machine.submitted(taskID: "t", status: .pending, at: .zero) == .poll(taskID: "t", after: .milliseconds(100)))
        #expect(machine.polled(status: .started, at: .milliseconds(150)) == .poll(taskID: "t", after: .milliseconds(200)))
        #expect(machine.polled(status: .success, at: .milliseconds(400)) == .fetchResult(taskID: "t", taskFailed: false))
    }

    @Test func pollIntervalGrowsToItsCap() {
        var machine = machine()
        var sleeps: [Duration] = []
        var action = machine.submitted(taskID: "t", status: .started, at: .zero)
        for second in 1...6 {
            if case .poll(_, let after) = action { sleeps.append(after) }
            action = machine.polled(status: .started, at: .seconds(second))
        }
        #expect(sleeps == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800), .seconds(1), .seconds(1)])
    }

    @Test func partialSuccessAndSkippedAlsoFetchTheResult() {
        for status in [Machine.TaskStatus.partialSuccess, .skipped] {
            var machine = machine()
            #expect(machine.submitted(taskID: "t", status: status, at: .zero) == .fetchResult(taskID: "t", taskFailed: false))
        }
    }

    @Test func failedTaskWhoseResultIsMissingFailsWithDoclingsMessage() throws {
        var machine = machine()
        _ = machine.submitted(taskID: "t", status: .pending, at: .zero)
        #expect(machine.polled(status: .failure, errorMessage: "Internal processing error.", at: .seconds(1)) == .fetchResult(taskID: "t", taskFailed: true))
        let error = try #require(failure(machine.resultNotFound(at: .seconds(1))))
        #expect(error.reason == .parseFailed)
        #expect(error.message.contains("Internal processing error."))
        #expect(error.message.contains("/docs/a.pdf"))
        #expect(!error.isTransient)
    }

    @Test func lostTaskIsResubmittedUntilTheBudgetRunsOut() throws {
        var machine = machine()
        _ = machine.submitted(taskID: "t1", status: .pending, at: .zero)
        #expect(machine.taskNotFound(at: .seconds(1)) == .submit)
        _ = machine.submitted(taskID: "t2", status: .pending, at: .seconds(1))
        #expect(machine.taskNotFound(at: .seconds(2)) == .submit)
        _ = machine.submitted(taskID: "t3", status: .started, at: .seconds(2))
        let error = try #require(failure(machine.taskNotFound(at: .seconds(3))))
        #expect(error.reason == .parseFailed)
        #expect(error.message.contains("3 times"))
        #expect(error.message.contains("DOCLING_SERVE_URL"))
        #expect(machine.resubmits == 2)
    }

    @Test func successfulTaskWhoseResultVanishedIsResubmitted() {
        var machine = machine()
        _ = machine.submitted(taskID: "t", status: .success, at: .zero)
        #expect(machine.resultNotFound(at: .seconds(1)) == .submit)
    }

    @Test func documentTimeoutCountsFromTheFirstStartedPoll() throws {
        var machine = machine()
        _ = machine.submitted(taskID: "t", status: .pending, at: .zero)
        // Queued for 500 s: not counted against the document timeout.
        _ = machine.polled(status: .pending, at: .seconds(500))
        _ = machine.polled(status: .started, at: .seconds(501))
        #expect(failure(machine.polled(status: .started, at: .seconds(1100))) == nil)
        let error = try #require(failure(machine.polled(status: .started, at: .seconds(1101))))
        #expect(error.reason == .parseTimeout)
        #expect(error.message.contains("600 s"))
        #expect(error.message.contains("DOCLING_TIMEOUT_SECONDS"))
        #expect(!error.isTransient)
    }

    @Test func pollNeverSleepsPastTheDeadline() {
        var machine = machine()
        _ = machine.submitted(taskID: "t", status: .started, at: .zero)
        #expect(machine.polled(status: .started, at: .milliseconds(599_950)) == .poll(taskID: "t", after: .milliseconds(50)))
    }

    @Test func queueingIsBoundedByThePendingTimeout() throws {
        var machine = machine()
        _ = machine.submitted(taskID: "t", status: .pending, at: .zero)
        #expect(failure(machine.polled(status: .pending, at: .seconds(2399))) == nil)
        let error = try #require(failure(machine.polled(status: .pending, at: .seconds(2400))))
        #expect(error.reason == .parseTimeout)
        #expect(error.isTransient)
        #expect(error.message.contains("queued"))
    }

    @Test func unknownStatusCountsAsWorking() {
        var machine = machine()
        #expect(machine.submitted(taskID: "t", status: .init("thinking"), at: .zero) == .poll(taskID: "t", after: .milliseconds(100)))
        #expect(Machine.TaskStatus("partial_success") == .partialSuccess)
    }

    @Test func eventsOutOfOrderAreInternalErrors() {
        var machine = Machine(configuration: Self.configuration, source: "x")
        #expect(failure(machine.polled(status: .started, at: .zero))?.reason == .internalError)
    }
}
