import ArgumentParser
import Foundation
import IngestCore
import IngestKit
import IngestOpenSearch

/// `ingest schema`: prints the index body (settings and mapping) the pipeline creates, for
/// creating the index ahead of time (the Kubernetes init Job) or reviewing it. The body goes to
/// stdout (pipe it to `curl -d @-`); the vector layout and the OpenRAG setting it needs go to
/// stderr.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the OpenSearch index body (settings and mappings) for an embedding model."
    )

    @Option(help: "Embedding model (default: EMBEDDING_MODEL or text-embedding-3-small); names the vector field.")
    var model: String?

    @Option(help: "OpenRAG provider key (default: EMBEDDING_PROVIDER; unset: the legacy layout); with it the vector field is named after `<provider>:<model>`.")
    var provider: String?

    @Option(help: "The model's vector dimension (e.g. 1536 for text-embedding-3-small, 384 for all-MiniLM-L6-v2).")
    var dimension: Int

    func validate() throws {
        guard (1...16_000).contains(dimension) else { throw ValidationError("--dimension must be from 1 to 16000") }
    }

    func run() throws {
        var flags: [Environment.Flag] = []
        if let model { flags.append(.init("EMBEDDING_MODEL", spelling: "--model", value: model)) }
        if let provider { flags.append(.init("EMBEDDING_PROVIDER", spelling: "--provider", value: provider)) }
        let env = Environment(flags: flags)
        let space = try Startup.setting { () throws(IngestError) in try PipelineSettings.embeddingSpace(env) }
        let text = OpenSearchIndex.indexBodyText(space: space, dimension: dimension)
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
        Terminal.line("layout: " + VectorLayout.summary(space))
        Terminal.line("openrag: " + VectorLayout.openRAGSetting(space))
    }
}
