import ArgumentParser
import Foundation
import IngestCore
import IngestKit
import IngestOpenSearch

/// `ingest doctor`: checks Docling, the embeddings endpoint and OpenSearch in turn and says
/// exactly what is wrong. The report goes to stdout. Exit 0 only when all are usable.
struct DoctorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "doctor",
        abstract: "Check that Docling, the embeddings endpoint and OpenSearch are usable."
    )

    @OptionGroup var embedding: EmbeddingOptions

    func run() async throws {
        let env = Environment(flags: embedding.flags)
        let runtime = try Startup.runtime(env, logger: try CLILogging.logger(env)) { Terminal.out("configuration  FAIL  \($0.message)") }
        var statuses = await runtime.pipeline.checkDependencies().filter { $0.name != "embeddings" }
        statuses.insert(await runtime.pipeline.checkEmbedder(), at: 1)
        await runtime.shutdown()
        for status in statuses {
            let name = status.name.padding(toLength: 12, withPad: " ", startingAt: 0)
            Terminal.out("\(name) \(status.ok ? "ok  " : "FAIL")  \(status.url)  \(status.message)")
        }
        Terminal.out("embedder     \(runtime.embedderSummary)")
        let space = runtime.pipeline.space
        Terminal.out("index        \(runtime.pipeline.settings.index), vector field \(OpenSearchIndex.vectorFieldName(for: space))")
        Terminal.out("layout       \(VectorLayout.summary(space))")
        Terminal.out("openrag      \(VectorLayout.openRAGSetting(space))")
        if statuses.contains(where: { !$0.ok }) { throw ExitCode(2) }
    }
}
