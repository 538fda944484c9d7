import ArgumentParser
import Foundation
import IngestCore
import IngestKit
import IngestServer
import IngestStepflowGRPC
import IngestWorker
import Logging

/// `ingest serve`: the Stepflow component worker (`/langflow/ingest`). It starts even when
/// Docling, the embedder or OpenSearch is down (the Stepflow server exits if its worker does not
/// answer `initialize`) and reports that in `/health` and in the failing steps instead.
struct ServeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "serve",
        abstract: "Run the Stepflow component worker (JSON-RPC over HTTP on SERVER_HOST:SERVER_PORT, or a gRPC pull worker with --transport grpc)."
    )

    @OptionGroup var embedding: EmbeddingOptions

    @Option(help: "Worker transport: http (Stepflow 0.9-0.11, the default) or grpc (Stepflow 0.12+, pulls from STEPFLOW_TASKS_URL). Overrides STEPFLOW_TRANSPORT.")
    var transport: String?

    func run() async throws {
        let env = Environment(flags: embedding.flags)
        let start = try Startup.service(env, label: "ingest.worker")
        let logger = start.logger
        var server = try await start.configured { try ServerConfiguration.fromEnvironment(env) }
        let grpc = try await start.configured { try GRPCWorkerSettings.selected(transportOption: transport, env) }
        let runtime = try Startup.runtime(env, forWorker: true, logger: logger, report: start.report)
        logger.info("embedder: \(runtime.embedderSummary)")
        server.maxFileBytes = runtime.pipeline.settings.maxFileBytes
        do {
            if let grpc {
                try await runGRPCWorker(server: server, settings: grpc, ingester: runtime.pipeline, leases: runtime.pipeline.leases, logger: logger)
            } else {
                try await runServer(configuration: server, ingester: runtime.pipeline, leases: runtime.pipeline.leases, logger: logger)
            }
        } catch {
            await runtime.shutdown()
            throw error
        }
        await runtime.shutdown()
    }
}
