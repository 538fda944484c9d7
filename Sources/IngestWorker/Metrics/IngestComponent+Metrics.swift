import IngestCore
import IngestKit
import Logging

extension IngestComponent {
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
