import GRPCCore
import IngestCore
import IngestKit
import Logging
import SwiftProtobuf

/// Runs one `TaskAssignment` from claim to acknowledged completion: a thin shell that performs
/// what ``TaskStateMachine`` decides (its doc comment lists the protocol) and feeds back what
/// happened. Each action runs as a child task that returns one event, so heartbeats go on while
/// the component runs and while `CompleteTask` is retried; when the machine finishes, whatever
/// still runs (the document, a wait, a call) is cancelled. Waits use the injected clock.
package struct TaskRunner<Component: TaskComponent, Orchestrator: OrchestratorService, Source: TaskSource, Blobs: BlobReader>: Sendable {
    let execution: TaskExecution<Component, Blobs>
    let orchestrator: Orchestrator
    let source: Source
    let workerID: String
    /// Where to send callbacks when a task names no orchestrator (the tasks URL).
    let defaultOrchestratorURL: String
    let policy: TaskPolicy
    let logger: Logger
    /// Runs the heartbeat interval and the back-offs (tests inject a manual clock).
    let clock: any Clock<Duration>
    /// The back-offs' jitter, in 0..<1.
    let jitter: @Sendable () -> Double

    package init(
        component: Component, orchestrator: Orchestrator, source: Source, blobs: Blobs, workerID: String, defaultOrchestratorURL: String, policy: TaskPolicy, logger: Logger,
        clock: any Clock<Duration> = ContinuousClock(), jitter: @escaping @Sendable () -> Double = { Double.random(in: 0..<1) }
    ) {
        self.execution = TaskExecution(component: component, blobs: blobs, maxInputBytes: policy.maxInputBytes)
        self.orchestrator = orchestrator
        self.source = source
        self.workerID = workerID
        self.defaultOrchestratorURL = defaultOrchestratorURL
        self.policy = policy
        self.logger = logger
        self.clock = clock
        self.jitter = jitter
    }

    /// Handles `received` to the end. Never throws: every failure is reported to the
    /// orchestrator or logged.
    package func run(_ received: ReceivedAssignment) async -> TaskOutcome {
        await run(received, on: clock)
    }

    /// What a child task reports back.
    private enum Event: Sendable {
        case heartbeat(Result<TaskStateMachine.HeartbeatAnswer, TaskStateMachine.CallFailure>)
        case completion(Result<Void, TaskStateMachine.CallFailure>)
        case lookedUp(String?, TaskStateMachine.LookUp)
        case executed(Stepflow_V1_CompleteTaskRequest.OneOf_Result?)
        case timer(TaskStateMachine.Timer)
    }

    private func run<C: Clock<Duration>>(_ received: ReceivedAssignment, on clock: C) async -> TaskOutcome {
        let assignment = received.assignment
        let url = assignment.context.orchestratorServiceURL.isEmpty ? defaultOrchestratorURL : assignment.context.orchestratorServiceURL
        var logger = self.logger
        logger[metadataKey: "task_id"] = "\(assignment.taskID)"

        // The request CompleteTask will carry, once there is a result.
        var completion = Stepflow_V1_CompleteTaskRequest()
        completion.taskID = assignment.taskID
        let kind: TaskStateMachine.Kind
        var context: ExecutionContext?
        var execute = Stepflow_V1_ComponentExecuteRequest()
        switch assignment.task {
        case .listComponents:
            kind = .listComponents
            var list = Stepflow_V1_ListComponentsResult()
            list.components = execution.component.catalog.map(TaskExecution<Component, Blobs>.componentInfo)
            completion.result = .listComponents(list)
        case .execute(let request):
            kind = .execute
            execute = request
            let taskContext = TaskExecution<Component, Blobs>.context(assignment.taskID, request, rootRunID: assignment.context.rootRunID)
            for (key, value) in [("run_id", taskContext.runID), ("flow_id", taskContext.flowID), ("step_id", taskContext.stepID), ("trace_id", taskContext.traceID)] {
                if let value { logger[metadataKey: key] = "\(value)" }
            }
            logger[metadataKey: "attempt"] = "\(taskContext.attempt)"
            logger[metadataKey: "component"] = "\(request.componentID)"
            if let runID = taskContext.runID { completion.runID = runID }
            context = taskContext
        case nil:
            kind = .empty
        }

        var machine = TaskStateMachine(
            settings: TaskStateMachine.Settings(
                interval: .seconds(max(1, Int(assignment.heartbeatIntervalSecs))),
                claimPatience: policy.claimPatience, completeRetry: policy.completeRetry, maxRedirects: policy.maxRedirects
            ),
            url: url,
            lookupRunID: context.flatMap { $0.rootRunID ?? $0.runID }
        )
        let origin = clock.now
        let runID = context?.runID
        let heartbeat = heartbeatRequest(assignment.taskID, runID: runID)

        let taskLogger = logger
        return await withTaskGroup(of: Event.self) { group in
            let logger = taskLogger
            var actions = machine.start(kind, at: .zero)
            while true {
                for action in actions {
                    switch action {
                    case .sendHeartbeat(let url):
                        let orchestrator = self.orchestrator
                        group.addTask {
                            do {
                                return .heartbeat(.success(Self.answer(try await orchestrator.taskHeartbeat(heartbeat, at: url))))
                            } catch {
                                return .heartbeat(.failure(Self.classify(error)))
                            }
                        }
                    case .execute:
                        let execution = self.execution
                        let execute = execute
                        let received = received.bytes
                        guard let context else { continue }
                        group.addTask { .executed(await execution.result(execute, receivedBytes: received, context: context, logger: logger)) }
                    case .sendCompletion(let url):
                        let orchestrator = self.orchestrator
                        let request = completion
                        group.addTask {
                            do {
                                try await orchestrator.completeTask(request, at: url)
                                return .completion(.success(()))
                            } catch {
                                return .completion(.failure(Self.classify(error)))
                            }
                        }
                    case .lookUpRun(let runID, let purpose):
                        let source = self.source
                        group.addTask {
                            do {
                                return .lookedUp(try await source.orchestratorURL(forRun: runID), purpose)
                            } catch {
                                logger.warning("GetOrchestratorForRun failed", metadata: ["error": "\(error)"])
                                return .lookedUp(nil, purpose)
                            }
                        }
                    case .wait(let duration, let timer):
                        group.addTask {
                            // Cancelled only when the task is over: the event is then ignored.
                            try? await clock.sleep(for: duration)
                            return .timer(timer)
                        }
                    case .log(let level, let message, let metadata):
                        logger.log(level: level, "\(message)", metadata: metadata.mapValues { .string($0) }.merging(["orchestrator": "\(machine.url)"]) { mine, _ in mine })
                    case .finish(let outcome):
                        group.cancelAll()
                        if kind == .listComponents { logger.info("list_components answered", metadata: ["outcome": "\(outcome)"]) }
                        return outcome
                    }
                }
                guard let event = await group.next() else {
                    // Nothing runs and the machine did not finish: a bug of ours.
                    logger.error("task runner: no action in flight; dropping the task")
                    return .aborted("internal error")
                }
                let now = origin.duration(to: clock.now)
                switch event {
                case .heartbeat(let answer):
                    actions = machine.heartbeatAnswered(answer, at: now)
                case .completion(let answer):
                    actions = machine.completionAnswered(answer, at: now, jitter: jitter())
                case .lookedUp(let moved, let purpose):
                    actions = machine.runLookedUp(moved, for: purpose, at: now, jitter: jitter())
                case .executed(let result):
                    if let result { completion.result = result }
                    actions = machine.executionFinished(result.map(Self.completedResult), at: now)
                case .timer(let timer):
                    actions = machine.timerFired(timer, at: now)
                }
            }
        }
    }

    // MARK: - Values

    private func heartbeatRequest(_ taskID: String, runID: String?) -> Stepflow_V1_TaskHeartbeatRequest {
        var request = Stepflow_V1_TaskHeartbeatRequest()
        request.taskID = taskID
        request.workerID = workerID
        if let runID { request.runID = runID }
        return request
    }

    /// What the decisions read in a heartbeat's response.
    static func answer(_ response: Stepflow_V1_TaskHeartbeatResponse) -> TaskStateMachine.HeartbeatAnswer {
        if response.status == .alreadyClaimed { return .alreadyClaimed }
        return response.shouldAbort ? .shouldAbort : .inProgress
    }

    /// An orchestrator call's error, by its gRPC status code (the proto documents what each means).
    static func classify(_ error: any Error) -> TaskStateMachine.CallFailure {
        if error is CancellationError { return .cancelled }
        guard let rpc = error as? RPCError else { return Task.isCancelled ? .cancelled : .other("\(error)") }
        switch rpc.code {
        case .notFound: return .notFound
        case .unavailable: return .unavailable(rpc.message)
        case .cancelled where Task.isCancelled: return .cancelled
        default: return Task.isCancelled ? .cancelled : .other("\(rpc)")
        }
    }

    static func completedResult(_ result: Stepflow_V1_CompleteTaskRequest.OneOf_Result) -> TaskOutcome.CompletedResult {
        switch result {
        case .error(let error): .error(error.code)
        case .listComponents: .components
        default: .output
        }
    }
}
