import GRPCCore
import IngestKit
import Logging
import Synchronization

/// Whether the pull stream is connected and whether the worker is stopping: readiness is
/// "connected and not stopping". Liveness never reads it (an orchestrator outage must not make
/// Kubernetes restart the pods).
package final class PullStatus: Sendable {
    private let connectedFlag = Atomic<Bool>(false)
    private let stoppingFlag = Atomic<Bool>(false)
    private let connectionCount = Atomic<Int>(0)

    package init() {}

    package var isConnected: Bool { connectedFlag.load(ordering: .acquiring) }
    package var isStopping: Bool { stoppingFlag.load(ordering: .acquiring) }
    package var isReady: Bool { isConnected && !isStopping }
    /// How many times the stream was established (1 after the first connect; reconnects add).
    package var connections: Int { connectionCount.load(ordering: .acquiring) }

    /// Returns the previous value.
    @discardableResult
    package func setConnected(_ value: Bool) -> Bool {
        if value { connectionCount.add(1, ordering: .acquiringAndReleasing) }
        return connectedFlag.exchange(value, ordering: .acquiringAndReleasing)
    }

    package func startStopping() { stoppingFlag.store(true, ordering: .releasing) }
}

/// The `PullTasks` loop: holds the stream for the worker's life and hands each assignment to
/// `dispatch`, which must give the slot back (``AsyncLimiter/release()``) when the task ends.
///
/// A free slot is taken BEFORE the next assignment is read: the orchestrator buffers one task per
/// stream, and a task read while every slot is busy would wait unclaimed until its queue timeout.
/// So at most STEPFLOW_MAX_CONCURRENT assignments, each at most STEPFLOW_MAX_ASSIGNMENT_BYTES,
/// are held at once. When a stream ends, what to do next is ``PullStateMachine``'s decision; this
/// shell only reads, sleeps on its injected clock and flips readiness.
/// Returns when its task is cancelled (shutdown: stop pulling at once).
package struct PullLoop<Source: TaskSource>: Sendable {
    let source: Source
    let request: Stepflow_V1_PullTasksRequest
    let slots: AsyncLimiter
    let reconnect: IngestKit.RetryPolicy
    let status: PullStatus
    let logger: Logger
    /// STEPFLOW_MAX_ASSIGNMENT_BYTES, named in the log line of an assignment over it.
    let maxAssignmentBytes: Int
    let onOversizedAssignment: @Sendable () -> Void
    /// Measures stream lifetimes and runs the back-off (tests inject a manual clock).
    let clock: any Clock<Duration>
    /// The back-off's jitter, in 0..<1.
    let jitter: @Sendable () -> Double

    package init(
        source: Source, queueName: String, workerID: String, slots: AsyncLimiter, reconnect: IngestKit.RetryPolicy, status: PullStatus, logger: Logger,
        maxAssignmentBytes: Int = Int(Int32.max), onOversizedAssignment: @escaping @Sendable () -> Void = {},
        clock: any Clock<Duration> = ContinuousClock(), jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.source = source
        var request = Stepflow_V1_PullTasksRequest()
        request.queueName = queueName
        request.workerID = workerID
        self.request = request
        self.slots = slots
        self.reconnect = reconnect
        self.status = status
        self.logger = logger
        self.maxAssignmentBytes = maxAssignmentBytes
        self.onOversizedAssignment = onOversizedAssignment
        self.clock = clock
        self.jitter = jitter
    }

    package func run(dispatch: @escaping @Sendable (ReceivedAssignment) -> Void) async {
        await run(on: clock, dispatch: dispatch)
    }

    private func run<C: Clock<Duration>>(on clock: C, dispatch: @escaping @Sendable (ReceivedAssignment) -> Void) async {
        let origin = clock.now
        let machine = LockedPullStateMachine(PullStateMachine(reconnect: reconnect, maxAssignmentBytes: maxAssignmentBytes))
        while true {
            let slots = self.slots
            let request = self.request
            let oversized = Atomic<Bool>(false)
            let end: PullStateMachine.StreamEnd
            do {
                try await source.pullTasks(request) { reader in
                    perform(machine.apply { $0.streamOpened(at: origin.duration(to: clock.now), queue: request.queueName) })
                    while true {
                        try await slots.acquire()
                        let next: ReceivedAssignment?
                        do {
                            next = try await reader.next()
                        } catch {
                            slots.release()
                            // grpc-swift refuses a message over the receive limit before decoding
                            // it, and the stream dies with it: the task is lost to this worker.
                            if let rpc = error as? RPCError, Self.isOversizedMessage(rpc) { oversized.store(true, ordering: .relaxed) }
                            throw error
                        }
                        guard let next else {
                            slots.release()
                            return
                        }
                        machine.apply { $0.assignmentDelivered(); return [] }
                        dispatch(next)
                    }
                }
                end = Task.isCancelled ? .cancelled : .ended
            } catch {
                if Task.isCancelled {
                    end = .cancelled
                } else if oversized.load(ordering: .relaxed) {
                    end = .oversizedAssignment(Self.describe(error))
                } else {
                    end = .failed(Self.describe(error))
                }
            }
            let jitter = self.jitter()
            let now = origin.duration(to: clock.now)
            var delay: Duration?
            for action in machine.apply({ $0.streamEnded(end, at: now, jitter: jitter) }) {
                switch action {
                case .reopen(let after): delay = after
                case .stop: delay = nil
                default: perform([action])
                }
            }
            guard let delay else { break }
            if delay > .zero {
                do { try await clock.sleep(for: delay) } catch { break }
            }
            if Task.isCancelled { break }
        }
        status.setConnected(false)
    }

    private func perform(_ actions: [PullStateMachine.Action]) {
        for action in actions {
            switch action {
            case .log(let level, let message, let metadata): logger.log(level: level, "\(message)", metadata: metadata.mapValues { .string($0) })
            case .markConnected: status.setConnected(true)
            case .markDisconnected: status.setConnected(false)
            case .countOversizedAssignment: onOversizedAssignment()
            case .reopen, .stop: break  // the loop's own decisions, read in run
            }
        }
    }

    /// Whether the stream died because a message was over the receive limit. grpc-swift-nio-
    /// transport 2.x reports it, on a stream the client half-closed (a server stream), as
    /// INTERNAL "Failed to decode message resourceExhausted: "Message has exceeded the
    /// configured maximum payload size (max: …, actual: …)""; RESOURCE_EXHAUSTED is accepted too.
    static func isOversizedMessage(_ error: RPCError) -> Bool {
        error.code == .resourceExhausted
            || (error.code == .internalError && error.message.contains("exceeded the configured maximum payload size"))
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? RPCError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }
}

/// The loop's state machine, shared with the stream's closure (which runs on the loop's task,
/// but is `@Sendable`).
final class LockedPullStateMachine: Sendable {
    private let machine: Mutex<PullStateMachine>

    init(_ machine: PullStateMachine) { self.machine = Mutex(machine) }

    @discardableResult
    func apply(_ event: (inout PullStateMachine) -> [PullStateMachine.Action]) -> [PullStateMachine.Action] {
        machine.withLock { event(&$0) }
    }
}
