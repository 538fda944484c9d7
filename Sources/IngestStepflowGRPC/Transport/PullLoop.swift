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

/// When the pull stream is reopened: the decision, pure (no clock, no sleep), so tests drive it
/// with plain values. The back-off starts over only after a stream proved healthy, by living
/// ``healthyAge`` or by delivering a task: a peer that accepts streams and ends them at once would
/// otherwise get a reconnect every few hundred milliseconds, for ever.
package struct ReconnectState: Sendable, Equatable {
    /// How long a stream must live, when it delivers no task, before the back-off starts over.
    package static let healthyAge: Duration = .seconds(30)
    /// Streams in a row that failed, or ended before they proved healthy.
    package private(set) var failures = 0

    package init() {}

    /// The stream ended or failed: the back-off attempt to wait for before the next one.
    /// - Parameters:
    ///   - connected: the stream was established (the orchestrator accepted it).
    ///   - lived: how long it was established.
    ///   - deliveredTask: it handed over at least one assignment.
    ///   - oversizedAssignment: it ended because an assignment was over
    ///     STEPFLOW_MAX_ASSIGNMENT_BYTES: the orchestrator is healthy (it sent a task), so this
    ///     is no failure (``PullLoop`` reopens such a stream at once, without a delay).
    package mutating func streamEnded(connected: Bool, lived: Duration, deliveredTask: Bool, oversizedAssignment: Bool = false) -> Int {
        if connected && (deliveredTask || oversizedAssignment || lived >= Self.healthyAge) {
            failures = 0
        } else {
            failures += 1
        }
        return failures
    }
}

/// The `PullTasks` loop: holds the stream for the worker's life and hands each assignment to
/// `dispatch`, which must give the slot back (``AsyncLimiter/release()``) when the task ends.
///
/// A free slot is taken BEFORE the next assignment is read: the orchestrator buffers one task per
/// stream, and a task read while every slot is busy would wait unclaimed until its queue timeout.
/// A stream that fails or ends is reopened after a capped, jittered back-off (reset only once a
/// stream proved healthy, see ``ReconnectState``), forever: the orchestrator going away never
/// stops the worker.
/// Returns when its task is cancelled (shutdown: stop pulling at once).
package struct PullLoop<Source: TaskSource>: Sendable {
    let source: Source
    let request: Stepflow_V1_PullTasksRequest
    let slots: AsyncLimiter
    let reconnect: Backoff
    let status: PullStatus
    let logger: Logger
    /// STEPFLOW_MAX_ASSIGNMENT_BYTES, named in the log line of an assignment over it.
    let maxAssignmentBytes: Int
    let onOversizedAssignment: @Sendable () -> Void

    package init(
        source: Source, queueName: String, workerID: String, slots: AsyncLimiter, reconnect: Backoff, status: PullStatus, logger: Logger,
        maxAssignmentBytes: Int = Int(Int32.max), onOversizedAssignment: @escaping @Sendable () -> Void = {}
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
    }

    package func run(dispatch: @escaping @Sendable (Stepflow_V1_TaskAssignment) -> Void) async {
        var reconnects = ReconnectState()
        let clock = ContinuousClock()
        while !Task.isCancelled {
            let slots = self.slots
            let status = self.status
            let logger = self.logger
            let stream = StreamRecord()
            do {
                try await source.pullTasks(request) { reader in
                    stream.connected(at: clock.now)
                    status.setConnected(true)
                    logger.info("pull stream connected", metadata: ["queue": "\(request.queueName)"])
                    while true {
                        try await slots.acquire()
                        let next: Stepflow_V1_TaskAssignment?
                        do {
                            next = try await reader.next()
                        } catch {
                            slots.release()
                            // grpc-swift refuses a message over the receive limit before decoding
                            // it, and the stream dies with it: the task is lost to this worker.
                            if let rpc = error as? RPCError, Self.isOversizedMessage(rpc) { stream.oversized() }
                            throw error
                        }
                        guard let next else {
                            slots.release()
                            return
                        }
                        stream.delivered()
                        dispatch(next)
                    }
                }
                if !Task.isCancelled { logger.notice("pull stream ended by the orchestrator; reconnecting") }
            } catch {
                if Task.isCancelled {
                    // Shutdown: nothing to report.
                } else if stream.snapshot.oversizedAssignment {
                    onOversizedAssignment()
                    logger.error(
                        "task assignment over STEPFLOW_MAX_ASSIGNMENT_BYTES (\(maxAssignmentBytes)) dropped: the worker cannot read it, so it cannot fail it; the orchestrator decides its fate. Reconnecting. Raise STEPFLOW_MAX_ASSIGNMENT_BYTES, or pass large documents as blobs (blob_id)",
                        metadata: ["error": "\(Self.describe(error))"]
                    )
                } else {
                    logger.warning("pull stream failed; reconnecting", metadata: ["error": "\(Self.describe(error))"])
                }
            }
            if Task.isCancelled { break }
            let record = stream.snapshot
            let attempt = reconnects.streamEnded(
                connected: record.connectedAt != nil,
                lived: record.connectedAt.map { clock.now - $0 } ?? .zero,
                deliveredTask: record.deliveredTask,
                oversizedAssignment: record.oversizedAssignment
            )
            // An oversized assignment says nothing about the orchestrator, which just sent it:
            // reopen at once and stay ready (one assignment per reopened stream, no hot loop).
            if record.oversizedAssignment { continue }
            status.setConnected(false)
            let delay = reconnect.delay(attempt: attempt)
            do { try await Task.sleep(for: delay) } catch { break }
        }
        status.setConnected(false)
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

/// What one stream did, written from inside the stream's closure and read after it ended.
final class StreamRecord: Sendable {
    struct Snapshot { var connectedAt: ContinuousClock.Instant?; var deliveredTask = false; var oversizedAssignment = false }
    private let state = Mutex(Snapshot())

    func connected(at instant: ContinuousClock.Instant) { state.withLock { $0.connectedAt = instant } }
    func delivered() { state.withLock { $0.deliveredTask = true } }
    func oversized() { state.withLock { $0.oversizedAssignment = true } }
    var snapshot: Snapshot { state.withLock { $0 } }
}
