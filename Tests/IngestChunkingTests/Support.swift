import Foundation
import IngestChunking
import IngestTokenizer
import Testing

/// Loads the fixtures copied from /work/shared/fixtures/docling (json_content only, to stay small).
enum Fixtures {
    /// The seven formats captured from Docling Serve, by file stem.
    static let formats = ["html", "docx", "md", "pptx", "xlsx", "csv", "asciidoc"]
    /// Every DoclingDocument fixture.
    static let documents = formats + ["html_spans", "pdf_annual_report"]

    static func url(_ name: String) throws -> URL {
        let base = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return base.appendingPathComponent(name)
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: url(name))
    }

    static func document(_ stem: String) throws -> DoclingDocument {
        try DoclingJSON.decodeDocument(from: data(stem + ".json"))
    }

    static func text(_ name: String) throws -> String {
        try #require(String(data: data(name), encoding: .utf8))
    }
}

/// The real all-MiniLM-L6-v2 tokenizer every budget is checked with.
let miniLM = WordPieceTokenizer.miniLM

func chunker(_ maxTokens: Int = 256) -> DocumentChunker {
    DocumentChunker(tokenizer: miniLM, options: ChunkerOptions(maxTokens: maxTokens))
}

/// The invariants every chunk list must hold, whatever the input.
func expectInvariants(_ chunks: [Chunk], maxTokens: Int, sourceLocation: SourceLocation = #_sourceLocation) {
    for (i, chunk) in chunks.enumerated() {
        #expect(chunk.chunkIndex == i, sourceLocation: sourceLocation)
        let blank = chunk.text.allSatisfy { $0.isWhitespace }
        #expect(!blank, "empty chunk \(i)", sourceLocation: sourceLocation)
        let real = miniLM.tokenCount(chunk.embeddingText)
        #expect(chunk.tokenCount == real, "token_count of chunk \(i)", sourceLocation: sourceLocation)
        #expect(real <= maxTokens, "chunk \(i) has \(real) tokens > \(maxTokens)", sourceLocation: sourceLocation)
        #expect(chunk.embeddingText.hasSuffix(chunk.text), sourceLocation: sourceLocation)
        #expect(chunk.pages == chunk.pages.sorted() && Set(chunk.pages).count == chunk.pages.count, sourceLocation: sourceLocation)
    }
}

/// Lower-cased words (letters and digits) of a text, for coverage checks.
func words(_ text: String) -> [String] {
    text.lowercased().split { !$0.isLetter && !$0.isNumber }.map(String.init)
}
