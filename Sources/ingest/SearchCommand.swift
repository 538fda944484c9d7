import ArgumentParser
import Foundation
import IngestCore
import IngestKit
import IngestOpenSearch

/// `ingest search "QUESTION"`: runs OpenRAG's hybrid query against the index, with the question
/// embedded by the configured embedder, and prints the best hits. The work is in
/// ``IndexSearch``; this parses, prints and maps failures to the exit status.
struct SearchCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "search",
        abstract: "Search the index the way OpenRAG does (k-NN per embedding space + keywords) and print the best chunks.",
        discussion: """
            The question is embedded with the configured embedder (EMBEDDING_MODEL, the same model \
            that embedded the chunks). A server without k-NN queries (osmem) is searched by keywords \
            only, as OpenRAG does when embedding is unavailable; that is said once on stderr. \
            Exit status: 0 (also when nothing matched), 2 for configuration errors, authentication \
            failures, a missing index or an unreachable service, 1 otherwise.
            """
    )

    @Argument(help: "The question.")
    var question: String

    @Option(help: "OpenSearch index (default: OPENSEARCH_INDEX or `documents`).")
    var index: String?

    @Option(name: .short, help: "Hits to print (1 to 1000).")
    var k: Int = 10

    @Flag(help: "Print one JSON array of the hits, each {\"id\", \"score\", \"fields\"}, instead of text.")
    var json = false

    @OptionGroup var embedding: EmbeddingOptions

    /// Characters of text shown per hit.
    static let textPreview = 240

    func validate() throws {
        guard (1...1000).contains(k) else { throw ValidationError("-k must be from 1 to 1000") }
        guard !question.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty else { throw ValidationError("the question is empty") }
    }

    func run() async throws {
        var flags = embedding.flags
        if let index { flags.append(.init("OPENSEARCH_INDEX", spelling: "--index", value: index)) }
        let env = Environment(flags: flags)
        let runtime = try Startup.runtime(env, logger: try CLILogging.logger(env))
        let result: IndexSearch.Result
        do {
            result = try await runtime.search.search(question, index: runtime.pipeline.settings.index, k: k)
        } catch let error as IngestError {
            await runtime.shutdown()
            Terminal.error(error.message)
            throw ExitCode(ExitStatus.oneCall(error))
        }
        await runtime.shutdown()
        for note in result.notes { Terminal.error("note: " + note) }
        if json {
            FileHandle.standardOutput.write(Self.jsonText(result.hits))
        } else {
            if result.hits.isEmpty { Terminal.line("no chunks matched") }
            for (rank, hit) in result.hits.enumerated() { Terminal.out(Self.text(hit, rank: rank + 1)) }
        }
    }

    /// `--json`: one array, each hit `{"id", "score", "fields"}`, then a newline.
    static func jsonText(_ hits: [SearchHit]) -> Data {
        let array: JSONValue = .array(hits.map { hit in
            ["id": .string(hit.id), "score": hit.score.map { .double($0) } ?? .null, "fields": .object(hit.fields)]
        })
        return array.jsonData() + Data("\n".utf8)
    }

    /// `3. 0.8123  report.pdf  p. 2  Scope > Terms` and the start of the text, indented.
    static func text(_ hit: SearchHit, rank: Int) -> String {
        var head = ["\(rank).", hit.score.map { String(format: "%.4f", $0) } ?? "-"]
        head.append(hit.fields[ChunkField.filename]?.stringValue ?? hit.id)
        if let page = hit.fields[ChunkField.page]?.intValue { head.append("p. \(page)") }
        let headings = hit.fields[ChunkField.headings]?.arrayValue?.compactMap(\.stringValue) ?? []
        if !headings.isEmpty { head.append(headings.joined(separator: " > ")) }
        let text = (hit.fields[ChunkField.text]?.stringValue ?? "")
            .split(whereSeparator: \.isNewline).joined(separator: " ")
        let preview = text.count > textPreview ? String(text.prefix(textPreview)) + "…" : text
        return head.joined(separator: "  ") + "\n   " + preview
    }
}
