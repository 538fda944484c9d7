import ArgumentParser
import Foundation
import IngestCore

/// The `ingest` command: argument parsing and wiring only; the work lives in IngestCore.
///
/// `ingest PATH...` is the default subcommand, so `ingest file.pdf` and `ingest docs/` work;
/// a file literally named like a subcommand is reached as `./serve`.
@main
struct Ingest: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "ingest",
        abstract: "Turn documents into searchable vectors: Docling → chunks → embeddings → OpenSearch.",
        usage: """
            ingest PATH... [--index NAME] [--concurrency N] [--max-tokens N] [--include GLOB]... [--exclude GLOB]...
                           [--owner NAME] [--docling-option KEY=VALUE]... [--prune] [--report FILE.json] [--preview FILE.jsonl]
            ingest <subcommand>
            """,
        discussion: """
            To ingest, name files and directories: `ingest report.pdf`, `ingest docs/` (directories \
            recursively). That is the `run` subcommand, the default; `ingest help run` explains every \
            option above.

            Settings come from the environment (see README): DOCLING_SERVE_URL, OPENAI_BASE_URL, \
            OPENAI_API_KEY, EMBEDDING_MODEL, OPENSEARCH_HOST, …
            """,
        version: IngestVersion.description,
        subcommands: [RunCommand.self, ServeCommand.self, ServeEmbeddingsCommand.self, DoctorCommand.self, ChunkCommand.self, EmbedCommand.self, SchemaCommand.self, SearchCommand.self],
        defaultSubcommand: RunCommand.self
    )

    /// ArgumentParser exits 64 on usage errors; our contract is 2 (README, "Exit status").
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                FileHandle.standardError.write(Data((fullMessage(for: error) + "\n").utf8))
                Foundation.exit(2)
            }
            exit(withError: error)
        }
    }
}
