import Foundation
import GRPCCore
import IngestCore
import IngestKit
import Logging
import SwiftProtobuf
import Synchronization

/// Limits and delays of one task's life, from the settings.
package struct TaskPolicy: Sendable, Equatable {
    /// Inputs whose protobuf encoding is larger fail with INVALID_INPUT (INGEST_MAX_BODY_BYTES).
    package var maxInputBytes: Int
    /// How long a claim answered UNAVAILABLE (run being recovered) is retried, one try per beat.
    package var claimPatience: Duration
    /// Delays between `CompleteTask` retries on UNAVAILABLE.
    package var completeBackoff: Backoff
    /// After this long, a result that cannot be delivered is left to the orchestrator's
    /// reassignment (safe: ingesting a document again gives the same chunks).
    package var completePatience: Duration
    /// `GetOrchestratorForRun` redirects followed for one task before giving up.
    package var maxRedirects: Int

    package init(
        maxInputBytes: Int = 64 * 1024 * 1024,
        claimPatience: Duration = .seconds(30),
        completeBackoff: Backoff = Backoff(initial: .milliseconds(200), maximum: .seconds(5)),
        completePatience: Duration = .seconds(120),
        maxRedirects: Int = 5
    ) {
        self.maxInputBytes = maxInputBytes
        self.claimPatience = claimPatience
        self.completeBackoff = completeBackoff
        self.completePatience = completePatience
        self.maxRedirects = maxRedirects
    }
}

/// How one task ended, for logs, metrics and tests.
package enum TaskOutcome: Sendable, Equatable {
    /// `CompleteTask` was acknowledged with this result.
    case completed(CompletedResult)
    /// The claim was refused (another worker holds it, or the orchestrator does not know it):
    /// nothing was executed and nothing is sent.
    case notClaimed(String)
    /// A heartbeat answered `should_abort` (or ALREADY_CLAIMED): the document was cancelled and
    /// no completion sent.
    case aborted(String)
    /// The result could not be delivered; the orchestrator will reassign the task.
    case undelivered(String)

    /// What was delivered.
    package enum CompletedResult: Sendable, Equatable {
        case output
        case error(Stepflow_V1_TaskErrorCode)
        case components
    }
}

/// Runs one `TaskAssignment` from claim to acknowledged completion:
///
/// 1. claim it with `TaskHeartbeat` at the task's `orchestrator_service_url` (an `execute` task
///    whose claim is refused is dropped: another worker holds it);
/// 2. run the component while heartbeating every `heartbeat_interval_secs` (1 when 0); a beat
///    answering `should_abort` cancels the document and nothing is sent;
/// 3. send `CompleteTask`, retried on UNAVAILABLE with capped back-off and redirected through
///    `GetOrchestratorForRun` on NOT_FOUND; the heartbeats go on until it is acknowledged.
package struct TaskRunner<Component: TaskComponent, Orchestrator: OrchestratorService, Source: TaskSource, Blobs: BlobReader>: Sendable {
    let component: Component
    let orchestrator: Orchestrator
    let source: Source
    let blobs: Blobs
    let workerID: String
    /// Where to send callbacks when a task names no orchestrator (the tasks URL).
    let defaultOrchestratorURL: String
    let policy: TaskPolicy
    let logger: Logger

    package init(component: Component, orchestrator: Orchestrator, source: Source, blobs: Blobs, workerID: String, defaultOrchestratorURL: String, policy: TaskPolicy, logger: Logger) {
        self.component = component
        self.orchestrator = orchestrator
        self.source = source
        self.blobs = blobs
        self.workerID = workerID
        self.defaultOrchestratorURL = defaultOrchestratorURL
        self.policy = policy
        self.logger = logger
    }

    /// Handles `assignment` to the end. Never throws: every failure is reported to the
    /// orchestrator or logged.
    package func run(_ assignment: Stepflow_V1_TaskAssignment) async -> TaskOutcome {
        let url = assignment.context.orchestratorServiceURL.isEmpty ? defaultOrchestratorURL : assignment.context.orchestratorServiceURL
        let route = TaskRoute(url: url)
        let interval = Duration.seconds(max(1, Int(assignment.heartbeatIntervalSecs)))
        var logger = self.logger
        logger[metadataKey: "task_id"] = "\(assignment.taskID)"

        switch assignment.task {
        case .listComponents:
            // Discovery has no run and is not claimed (as the Python SDK does): just answer.
            var request = Stepflow_V1_CompleteTaskRequest()
            request.taskID = assignment.taskID
            var list = Stepflow_V1_ListComponentsResult()
            list.components = component.catalog.map(Self.componentInfo)
            request.result = .listComponents(list)
            let outcome = await deliver(request, runID: nil, route: route, logger: logger)
            logger.info("list_components answered", metadata: ["outcome": "\(outcome)"])
            return outcome
        case .execute(let execute):
            let context = Self.context(assignment.taskID, execute, rootRunID: assignment.context.rootRunID)
            for (key, value) in [("run_id", context.runID), ("flow_id", context.flowID), ("step_id", context.stepID), ("trace_id", context.traceID)] {
                if let value { logger[metadataKey: key] = "\(value)" }
            }
            logger[metadataKey: "attempt"] = "\(context.attempt)"
            logger[metadataKey: "component"] = "\(execute.componentID)"
            return await runExecute(execute, context: context, route: route, interval: interval, logger: logger)
        case nil:
            logger.warning("task without a payload (neither execute nor list_components): ignored; the orchestrator will time it out")
            return .notClaimed("empty task")
        }
    }

    // MARK: - Execute

    private func runExecute(_ execute: Stepflow_V1_ComponentExecuteRequest, context: ExecutionContext, route: TaskRoute, interval: Duration, logger: Logger) async -> TaskOutcome {
        if let refusal = await claim(context, route: route, interval: interval, logger: logger) {
            logger.notice("task not claimed: \(refusal); not executing it")
            return .notClaimed(refusal)
        }
        logger.info("task claimed", metadata: ["orchestrator": "\(route.url)"])
        return await withTaskGroup(of: TaskOutcome?.self) { group in
            group.addTask {
                guard let result = await self.produce(execute, context: context, logger: logger) else { return nil }
                var request = Stepflow_V1_CompleteTaskRequest()
                request.taskID = context.taskID
                if let runID = context.runID { request.runID = runID }
                request.result = result
                return await self.deliver(request, runID: context.rootRunID ?? context.runID, route: route, logger: logger)
            }
            group.addTask {
                await self.heartbeat(context, route: route, interval: interval, logger: logger)
            }
            var outcome: TaskOutcome = .aborted("cancelled")
            for await finished in group {
                guard let finished else { continue }
                outcome = finished
                break
            }
            group.cancelAll()
            return outcome
        }
    }

    /// The result to report, or nil when the execution was cancelled (abort or shutdown).
    private func produce(_ execute: Stepflow_V1_ComponentExecuteRequest, context: ExecutionContext, logger: Logger) async -> Stepflow_V1_CompleteTaskRequest.OneOf_Result? {
        let catalog = component.catalog
        let requested = execute.componentID.hasPrefix("/") ? String(execute.componentID.dropFirst()) : execute.componentID
        guard catalog.contains(where: { $0.componentID == requested }) else {
            logger.warning("execute refused: unknown component")
            return .error(TaskErrorMapping.componentNotFound(execute.componentID, served: catalog.map(\.componentID)))
        }
        let inputBytes = (try? execute.input.serializedBytes() as [UInt8])?.count ?? 0
        if inputBytes > policy.maxInputBytes {
            logger.warning("execute refused: input too large", metadata: ["bytes": "\(inputBytes)"])
            return .error(TaskErrorMapping.taskError(ComponentFailure(
                reason: .invalidInput,
                source: "task \(context.taskID)",
                message: "Invalid input for /\(requested): the step input is \(inputBytes) bytes, over INGEST_MAX_BODY_BYTES (\(policy.maxInputBytes) bytes); store the document as a blob and pass its blob_id, or raise INGEST_MAX_BODY_BYTES"
            )))
        }
        let input = execute.hasInput ? ProtobufJSON.json(execute.input) : .null
        let result: Result<JSONValue, ComponentFailure>
        do {
            result = try await component.execute(componentID: requested, input: input, blobs: blobs, context: context)
        } catch {
            return nil
        }
        if Task.isCancelled { return nil }
        switch result {
        case .success(let output):
            var response = Stepflow_V1_ComponentExecuteResponse()
            response.output = ProtobufJSON.value(output)
            return .response(response)
        case .failure(let failure):
            return .error(TaskErrorMapping.taskError(failure))
        }
    }

    // MARK: - Claim and heartbeats

    /// Claims the task; nil when it is ours, else why not. UNAVAILABLE (the run is being
    /// recovered) is retried once per beat for `claimPatience`; NOT_FOUND follows the run.
    private func claim(_ context: ExecutionContext, route: TaskRoute, interval: Duration, logger: Logger) async -> String? {
        let clock = ContinuousClock()
        let deadline = clock.now.advanced(by: policy.claimPatience)
        var redirects = 0
        while true {
            do {
                let response = try await orchestrator.taskHeartbeat(heartbeatRequest(context.taskID, runID: context.runID), at: route.url)
                if response.status == .alreadyClaimed { return "another worker holds it (ALREADY_CLAIMED)" }
                if response.shouldAbort { return "the orchestrator answered should_abort" }
                return nil
            } catch let error as RPCError where error.code == .notFound {
                guard redirects < policy.maxRedirects, let runID = context.rootRunID ?? context.runID, let moved = await lookUp(runID, logger: logger), moved != route.url else {
                    return "the orchestrator at \(route.url) does not know the task (NOT_FOUND)"
                }
                redirects += 1
                route.url = moved
                continue
            } catch let error as RPCError where error.code == .unavailable {
                logger.info("claim answered UNAVAILABLE (run being recovered or orchestrator unreachable); retrying at the next beat", metadata: ["error": "\(error.message)"])
            } catch is CancellationError {
                return "cancelled"
            } catch {
                return "the claim failed: \(error)"
            }
            if clock.now >= deadline { return "the orchestrator stayed unavailable for \(policy.claimPatience.components.seconds) s" }
            do { try await Task.sleep(for: interval) } catch { return "cancelled" }
        }
    }

    /// Beats every `interval` until cancelled (returns nil) or told to abort (returns `.aborted`).
    /// Failures other than an abort answer are logged and the next beat tries again: UNAVAILABLE
    /// means the run is being recovered, NOT_FOUND that it may have moved.
    private func heartbeat(_ context: ExecutionContext, route: TaskRoute, interval: Duration, logger: Logger) async -> TaskOutcome? {
        var failures = 0
        while true {
            do { try await Task.sleep(for: interval) } catch { return nil }
            do {
                let response = try await orchestrator.taskHeartbeat(heartbeatRequest(context.taskID, runID: context.runID), at: route.url)
                failures = 0
                if response.shouldAbort || response.status == .alreadyClaimed {
                    let why = response.status == .alreadyClaimed ? "ALREADY_CLAIMED" : "should_abort"
                    logger.notice("heartbeat answered \(why): cancelling the document; no completion will be sent")
                    return .aborted(why)
                }
            } catch is CancellationError {
                return nil
            } catch let error as RPCError where error.code == .cancelled && Task.isCancelled {
                return nil
            } catch let error as RPCError where error.code == .notFound {
                if let runID = context.rootRunID ?? context.runID, let moved = await lookUp(runID, logger: logger), moved != route.url {
                    logger.notice("run moved to another orchestrator", metadata: ["orchestrator": "\(moved)"])
                    route.url = moved
                }
            } catch {
                failures += 1
                // One line per outage, not one per second.
                if failures == 1 { logger.warning("heartbeat failed; retrying every beat", metadata: ["error": "\(error)"]) }
            }
        }
    }

    private func heartbeatRequest(_ taskID: String, runID: String?) -> Stepflow_V1_TaskHeartbeatRequest {
        var request = Stepflow_V1_TaskHeartbeatRequest()
        request.taskID = taskID
        request.workerID = workerID
        if let runID { request.runID = runID }
        return request
    }

    // MARK: - Completion

    /// Sends `request` until acknowledged: UNAVAILABLE is retried with capped back-off for
    /// `completePatience`, NOT_FOUND asks `GetOrchestratorForRun` where the run lives and
    /// resends there. What still cannot be delivered is logged and left to reassignment.
    private func deliver(_ request: Stepflow_V1_CompleteTaskRequest, runID: String?, route: TaskRoute, logger: Logger) async -> TaskOutcome {
        let clock = ContinuousClock()
        let started = clock.now
        var attempt = 0
        var redirects = 0
        let kind: TaskOutcome.CompletedResult = switch request.result {
        case .error(let error): .error(error.code)
        case .listComponents: .components
        default: .output
        }
        while true {
            do {
                try await orchestrator.completeTask(request, at: route.url)
                logger.info("task completed", metadata: ["result": "\(kind)"])
                return .completed(kind)
            } catch let error as RPCError where error.code == .notFound {
                guard redirects < policy.maxRedirects, let runID, let moved = await lookUp(runID, logger: logger) else {
                    return undelivered("the orchestrator at \(route.url) no longer knows the task (NOT_FOUND) and no other one holds its run", logger: logger)
                }
                redirects += 1
                if moved != route.url {
                    logger.notice("CompleteTask: run moved; resending", metadata: ["orchestrator": "\(moved)"])
                    route.url = moved
                    continue
                }
                // Same orchestrator: the task may not be registered again yet after a recovery.
            } catch let error as RPCError where error.code == .unavailable {
                logger.info("CompleteTask answered UNAVAILABLE; retrying", metadata: ["attempt": "\(attempt + 1)", "error": "\(error.message)"])
            } catch is CancellationError {
                return .aborted("cancelled before the result was delivered")
            } catch {
                if Task.isCancelled { return .aborted("cancelled before the result was delivered") }
                return undelivered("CompleteTask failed: \(error)", logger: logger)
            }
            if clock.now - started >= policy.completePatience {
                return undelivered("CompleteTask was not acknowledged within \(policy.completePatience.components.seconds) s", logger: logger)
            }
            do { try await Task.sleep(for: policy.completeBackoff.delay(attempt: attempt)) } catch {
                return .aborted("cancelled before the result was delivered")
            }
            attempt += 1
        }
    }

    private func undelivered(_ why: String, logger: Logger) -> TaskOutcome {
        logger.error("result not delivered: \(why). The orchestrator will reassign the task; ingesting the document again is safe (same chunk ids, the index is unchanged)")
        return .undelivered(why)
    }

    private func lookUp(_ runID: String, logger: Logger) async -> String? {
        do {
            return try await source.orchestratorURL(forRun: runID)
        } catch {
            logger.warning("GetOrchestratorForRun failed", metadata: ["error": "\(error)"])
            return nil
        }
    }

    // MARK: - Values

    static func context(_ taskID: String, _ execute: Stepflow_V1_ComponentExecuteRequest, rootRunID: String) -> ExecutionContext {
        let observability = execute.observability
        func nonEmpty(_ has: Bool, _ value: String) -> String? { has && !value.isEmpty ? value : nil }
        return ExecutionContext(
            taskID: taskID,
            runID: nonEmpty(observability.hasRunID, observability.runID),
            rootRunID: rootRunID.isEmpty ? nil : rootRunID,
            flowID: nonEmpty(observability.hasFlowID, observability.flowID),
            stepID: nonEmpty(observability.hasStepID, observability.stepID),
            traceID: nonEmpty(observability.hasTraceID, observability.traceID),
            attempt: Int(max(1, execute.attempt))
        )
    }

    static func componentInfo(_ description: ComponentDescription) -> Stepflow_V1_ComponentInfo {
        var info = Stepflow_V1_ComponentInfo()
        info.componentID = description.componentID
        info.path = description.path
        info.description_p = description.description
        info.inputSchema = description.inputSchema.jsonString()
        info.outputSchema = description.outputSchema.jsonString()
        return info
    }
}

/// The orchestrator a task's callbacks go to; heartbeats and the completion share it, so a
/// redirect found by one is used by the other.
final class TaskRoute: Sendable {
    private let current: Mutex<String>

    init(url: String) { current = Mutex(url) }

    var url: String {
        get { current.withLock { $0 } }
        set { current.withLock { $0 = newValue } }
    }
}

extension TaskOutcome: CustomStringConvertible {
    /// Short, for logs: `completed output`, `completed error invalidInput`, `aborted should_abort`.
    package var description: String {
        switch self {
        case .completed(let result): "completed \(result)"
        case .notClaimed(let why): "not claimed: \(why)"
        case .aborted(let why): "aborted: \(why)"
        case .undelivered(let why): "undelivered: \(why)"
        }
    }
}

extension TaskOutcome.CompletedResult: CustomStringConvertible {
    package var description: String {
        switch self {
        case .output: "output"
        case .components: "components"
        case .error(let code): "error \(code)"
        }
    }
}
