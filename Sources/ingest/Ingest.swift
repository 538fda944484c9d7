import ArgumentParser

/// The `ingest` command: argument parsing and wiring only; the work lives in IngestCore.
@main
struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Turn documents into searchable vectors: Docling → chunks → embeddings → OpenSearch."
    )
}
