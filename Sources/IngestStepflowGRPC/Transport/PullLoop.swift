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
/// A stream that fails or ends is reopened after a capped, jittered back-off (reset once a
/// stream was established), forever: the orchestrator going away never stops the worker.
/// Returns when its task is cancelled (shutdown: stop pulling at once).
package struct PullLoop<Source: TaskSource>: Sendable {
    let source: Source
    let request: Stepflow_V1_PullTasksRequest
    let slots: AsyncLimiter
    let reconnect: Backoff
    let status: PullStatus
    let logger: Logger

    package init(source: Source, queueName: String, workerID: String, slots: AsyncLimiter, reconnect: Backoff, status: PullStatus, logger: Logger) {
        self.source = source
        var request = Stepflow_V1_PullTasksRequest()
        request.queueName = queueName
        request.workerID = workerID
        self.request = request
        self.slots = slots
        self.reconnect = reconnect
        self.status = status
        self.logger = logger
    }

    package func run(dispatch: @escaping @Sendable (Stepflow_V1_TaskAssignment) -> Void) async {
        var failures = 0
        while !Task.isCancelled {
            let slots = self.slots
            let status = self.status
            let logger = self.logger
            do {
                try await source.pullTasks(request) { reader in
                    status.setConnected(true)
                    logger.info("pull stream connected", metadata: ["queue": "\(request.queueName)"])
                    while true {
                        try await slots.acquire()
                        let next: Stepflow_V1_TaskAssignment?
                        do {
                            next = try await reader.next()
                        } catch {
                            slots.release()
                            throw error
                        }
                        guard let next else {
                            slots.release()
                            return
                        }
                        dispatch(next)
                    }
                }
                if !Task.isCancelled { logger.notice("pull stream ended by the orchestrator; reconnecting") }
            } catch {
                if !Task.isCancelled {
                    logger.warning("pull stream failed; reconnecting", metadata: ["error": "\(Self.describe(error))"])
                }
            }
            let wasConnected = status.setConnected(false)
            if Task.isCancelled { break }
            failures = wasConnected ? 0 : failures + 1
            let delay = reconnect.delay(attempt: failures)
            do { try await Task.sleep(for: delay) } catch { break }
        }
        status.setConnected(false)
    }

    static func describe(_ error: any Error) -> String {
        if let error = error as? RPCError { return "\(error.code): \(error.message)" }
        return "\(error)"
    }
}
