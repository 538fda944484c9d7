import IngestCore
import IngestKit
import Logging

extension IngestComponent {
    /// ``accept(_:logger:)`` counting a refusal by its reason, as both transports do.
    package func accept(_ input: JSONValue?, logger: Logger, metrics: WorkerMetrics) -> Result<ComponentInput, ComponentFailure> {
        let accepted = accept(input, logger: logger)
        if case .failure(let refusal) = accepted { metrics.recordFailure(reason: refusal.reason) }
        return accepted
    }

    /// The component's input rules, then one execution with the worker's metrics around it: for
    /// a transport that needs nothing of the parsed input (the gRPC pull worker).
    package func execute(_ input: JSONValue?, blobs: any BlobReader, logger: Logger, metrics: WorkerMetrics) async throws -> ComponentResult {
        switch accept(input, logger: logger, metrics: metrics) {
        case .success(let accepted): try await execute(accepted, blobs: blobs, logger: logger, metrics: metrics)
        case .failure(let refusal): .failure(refusal)
        }
    }

    /// One execution with the worker's metrics around it: executions in flight, the outcome or
    /// the failure reason. Both transports (HTTP JSON-RPC and gRPC pull) run executions this way.
    package func execute(_ input: ComponentInput, blobs: any BlobReader, logger: Logger, metrics: WorkerMetrics) async throws -> ComponentResult {
        metrics.executeStarted()
        defer { metrics.executeFinished() }
        let result: ComponentResult
        do {
            result = try await execute(input, blobs: blobs, logger: logger)
        } catch {
            metrics.recordFailure(reason: .cancelled)
            throw error
        }
        switch result {
        case .success(let output):
            metrics.recordOutcome(output.outcome)
        case .failure(let failure):
            if let outcome = failure.outcome { metrics.recordOutcome(outcome.outcome) } else { metrics.recordFailure(reason: failure.reason) }
        }
        return result
    }
}
