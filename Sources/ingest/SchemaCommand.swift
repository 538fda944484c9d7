import ArgumentParser
import Foundation
import IngestCore
import IngestKit
import IngestOpenSearch

/// `ingest schema`: prints the index body (settings and mapping) the pipeline creates, for
/// creating the index ahead of time (the Kubernetes init Job) or reviewing it.
struct SchemaCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schema",
        abstract: "Print the OpenSearch index body (settings and mappings) for an embedding model."
    )

    @Option(help: "Embedding model (default: EMBEDDING_MODEL or text-embedding-3-small); names the vector field.")
    var model: String?

    @Option(help: "The model's vector dimension (e.g. 1536 for text-embedding-3-small, 384 for all-MiniLM-L6-v2).")
    var dimension: Int

    func validate() throws {
        guard (1...16_000).contains(dimension) else { throw ValidationError("--dimension must be from 1 to 16000") }
    }

    func run() throws {
        let env = Environment(flags: model.map { [.init("EMBEDDING_MODEL", spelling: "--model", value: $0)] } ?? [])
        let name = env.string("EMBEDDING_MODEL", default: "text-embedding-3-small")
        let text = OpenSearchIndex.indexBodyText(vectorField: OpenSearchIndex.vectorFieldName(forModel: name), dimension: dimension)
        FileHandle.standardOutput.write(Data((text + "\n").utf8))
    }
}
