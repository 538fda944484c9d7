import ArgumentParser
import Foundation
import IngestChunking
import IngestCore
import IngestKit
import IngestTokenizer

/// `ingest chunk FILE.json [--max-tokens N]`: the chunker on its own, for people debugging
/// chunking and for the comparison and benchmark scripts. Needs no service.
struct ChunkCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chunk",
        abstract: "Print the chunks of a DoclingDocument as JSON lines (no service needed).",
        discussion: """
            FILE is a DoclingDocument (Docling Serve's json_content) or a whole convert response, \
            plain or gzip-compressed; "-" reads standard input. A .md, .markdown or .txt file goes \
            through the Markdown path: its raw text, not what Docling makes of it, so the chunks can \
            differ from what is indexed (raw link syntax, another count); `ingest FILE --preview \
            out.jsonl` shows exactly what would be indexed. One JSON object per chunk: chunk_index, \
            text, embedding_text, headings, pages, token_count, doc_items. Exit 0 on success, 2 on \
            unreadable or invalid input. To get a DoclingDocument: curl -X POST \
            "$DOCLING_SERVE_URL/v1/convert/file" -F files=@doc.docx -F to_formats=json > doc.json
            """
    )

    @Argument(help: "DoclingDocument JSON (.json or .json.gz), or Markdown/plain text (.md, .txt).")
    var file: String

    @Option(help: "Token budget per chunk, [CLS]/[SEP] included (the embedding model's window).")
    var maxTokens: Int = ChunkerOptions().maxTokens

    func validate() throws {
        // The one budget rule (TokenBudget), as for `ingest run` and the worker.
        if let problem = TokenBudget.problem(maxTokens) {
            throw ValidationError("--max-tokens \(problem)")
        }
    }

    func run() async throws {
        // The tokenizer builds its vocabulary on first use (tens of milliseconds): do that in a
        // child task while this one reads and decodes the file.
        async let warmTokenizer = Self.readyTokenizer()
        let data: Data
        var isDirectory: ObjCBool = false
        if file != "-", FileManager.default.fileExists(atPath: file, isDirectory: &isDirectory), isDirectory.boolValue {
            try fail("is a directory (give one DoclingDocument JSON file)")
        }
        do {
            data = file == "-" ? FileHandle.standardInput.readDataToEndOfFile() : try Data(contentsOf: URL(fileURLWithPath: file))
        } catch {
            try fail("cannot read: \((error as NSError).localizedDescription)")
        }
        let options = ChunkerOptions(maxTokens: maxTokens)
        let chunks: [Chunk]
        if Self.isText(file) {
            guard let text = String(data: data, encoding: .utf8) else { try fail("not UTF-8 text") }
            chunks = DocumentChunker(tokenizer: await warmTokenizer, options: options).chunks(forMarkdown: text)
        } else {
            let document: DoclingDocument
            let inflateLimit = try Startup.setting { () throws(IngestError) in
                try Environment().int("INGEST_MAX_DECOMPRESSED_BYTES", default: Gzip.maxOutputBytes, range: 1...(1 << 40))
            }
            do {
                document = try Gzip.$maxOutputBytes.withValue(inflateLimit) { try DoclingJSON.decodeDocument(from: data) }
            } catch let error as DoclingDecodingError {
                try fail(error.description)
            }
            chunks = DocumentChunker(tokenizer: await warmTokenizer, options: options).chunks(for: document)
        }
        // One buffer, written in large slices: no per-line write or flush.
        var json = JSONWriter(reservingCapacity: chunks.count * 1_536)
        ChunkJSONLines.append(chunks, to: &json)
        let output = json.bytes
        let stdout = FileHandle.standardOutput
        var offset = 0
        while offset < output.count {
            let end = min(offset + Self.writeSlice, output.count)
            try stdout.write(contentsOf: output[offset..<end])
            offset = end
        }
    }

    /// all-MiniLM-L6-v2's tokenizer, its vocabulary built.
    private static func readyTokenizer() async -> WordPieceTokenizer {
        let tokenizer = WordPieceTokenizer.miniLM
        _ = tokenizer.tokenCount("")
        return tokenizer
    }

    /// Bytes per write to standard output.
    private static let writeSlice = 1 << 20

    private static func isText(_ path: String) -> Bool {
        let lower = path.lowercased()
        return [".md", ".markdown", ".txt"].contains { lower.hasSuffix($0) }
    }

    /// Reports a problem with the input (naming the file) and exits with status 2.
    private func fail(_ message: String) throws -> Never {
        FileHandle.standardError.write(Data("ingest chunk: \(file): \(message)\n".utf8))
        throw ExitCode(2)
    }
}
