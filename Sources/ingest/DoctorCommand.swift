import ArgumentParser
import Foundation
import IngestCore
import IngestKit

/// `ingest doctor`: checks Docling, the embeddings endpoint and OpenSearch in turn and says
/// exactly what is wrong. The report goes to stdout. Exit 0 only when all are usable.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check that Docling, the embeddings endpoint and OpenSearch are usable."
    )

    @OptionGroup var embedding: EmbeddingOptions

    func run() async throws {
        let env = Environment()
        let runtime: Runtime
        do {
            runtime = try Runtime(environment: env, settings: try PipelineSettings.fromEnvironment(env, forWorker: false), logger: CLILogging.logger(env), embeddingModelPath: embedding.embeddingModelPath)
        } catch let error as IngestError {
            Terminal.out("configuration  FAIL  \(error.message)")
            throw ExitCode(2)
        }
        var statuses = await runtime.pipeline.checkDependencies().filter { $0.name != "embeddings" }
        statuses.insert(await runtime.pipeline.checkEmbedder(), at: 1)
        await runtime.shutdown()
        for status in statuses {
            let name = status.name.padding(toLength: 12, withPad: " ", startingAt: 0)
            Terminal.out("\(name) \(status.ok ? "ok  " : "FAIL")  \(status.url)  \(status.message)")
        }
        Terminal.out("embedder     \(runtime.embedderSummary)")
        Terminal.out("index        \(runtime.pipeline.settings.index), vector field \(runtime.pipeline.vectorField)")
        if statuses.contains(where: { !$0.ok }) { throw ExitCode(2) }
    }
}
