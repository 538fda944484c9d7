import Foundation
import IngestChunking
import IngestTokenizer
import Testing

/// Loads the fixtures (what each is and where it comes from: Fixtures/README.md).
enum Fixtures {
    /// The seven formats captured from Docling Serve, by file stem.
    static let formats = ["html", "docx", "md", "pptx", "xlsx", "csv", "asciidoc"]
    /// Documents nobody here wrote (Debian packages), converted by docling-serve.
    static let realDocuments = [
        "real/base-passwd_users-and-groups.html.docling.json.gz",
        "real/base-passwd_users-and-groups.docx.docling.json.gz",
        "real/python3.11-doc_library_secrets.html.docling.json.gz",
        "real/nodejs-doc_api_string_decoder.html.docling.json.gz",
        "real/libcbor_README.md.docling.json.gz",
        "real/apt_README.md.docling.json.gz",
    ]
    /// Minimal reproductions of a heading inside a list, written here and converted by
    /// LibreOffice and docling-serve.
    static let reproDocuments = [
        "repro/docx-heading-in-list.docx.docling.json",
        "repro/html-heading-in-list.html.docling.json",
        "repro/md-heading-in-list.md.docling.json",
    ]
    /// Every DoclingDocument fixture the chunker tests use: a stem (".json" added) or a file name.
    static let documents = formats + ["html_spans", "pdf_annual_report", "synthetic_50_pages.docling.json.gz"]
        + realDocuments + reproDocuments
    /// Every Markdown / plain-text fixture (the `chunks(forMarkdown:)` path).
    static let markdown = ["release_notes.md", "handbook.md", "real/libcbor_README.md", "real/apt_README.md", "repro/md-heading-in-list.md"]

    static func url(_ name: String) throws -> URL {
        let base = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil))
        return base.appendingPathComponent(name)
    }

    static func data(_ name: String) throws -> Data {
        try Data(contentsOf: url(name))
    }

    /// A fixture's file name from its stem ("html" -> "html.json") or file name.
    static func fileName(_ name: String) -> String {
        name.contains(".json") ? name : name + ".json"
    }

    /// A DoclingDocument fixture, by stem ("html") or file name (plain or gzip-compressed).
    static func document(_ name: String) throws -> DoclingDocument {
        try DoclingJSON.decodeDocument(from: data(fileName(name)))
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

// MARK: - The invariants, written once

/// Smallest budget at which every word must survive whole. Below it, by design, a run without
/// spaces longer than the room (a hex token, `[0xE2,0x82,0xAC]`) is cut by characters and a
/// table's column names give way to its values.
let wholeWordsFrom = 64

/// What must hold for every DoclingDocument, whatever it is: the chunk-level invariants, every
/// distinct word of the body (text items other than page headers/footers, table cells) present in
/// what is stored (from `wholeWordsFrom` tokens up), pages on every chunk of a paginated document,
/// and no heading lost: every body `title`/`section_header` appears, cleaned of its permalink
/// marker, in a chunk's heading path or as a line of a chunk.
func expectDocumentInvariants(_ document: DoclingDocument, _ chunks: [Chunk], maxTokens: Int, name: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
    expectInvariants(chunks, maxTokens: maxTokens, sourceLocation: sourceLocation)

    var expected: Set<String> = []
    for item in document.texts where item.isBody && item.label != .pageFooter && item.label != .pageHeader {
        expected.formUnion(words(item.text))
    }
    for table in document.tables where table.isBody {
        for cell in table.data.cells { expected.formUnion(words(cell.text)) }
    }
    // Furniture items are the only text allowed to be missing.
    let furniture = Set(document.texts.filter { !$0.isBody }.flatMap { words($0.text) })
    let missing = maxTokens < wholeWordsFrom ? [] : expected.subtracting(storedWords(chunks)).subtracting(furniture)
    #expect(missing.isEmpty, "\(name) @\(maxTokens): words missing: \(missing.sorted().prefix(10))", sourceLocation: sourceLocation)

    if document.pageCount != nil {
        let unpaged = chunks.filter(\.pages.isEmpty).map(\.chunkIndex)
        #expect(unpaged.isEmpty, "\(name) @\(maxTokens): chunks without pages: \(unpaged.prefix(10))", sourceLocation: sourceLocation)
    }

    let headings = document.texts.filter { $0.isBody && $0.label.isHeading }.map { HeadingText.cleaned($0.text) }
    expectHeadingsKept(headings.filter { !$0.isEmpty }, chunks, maxTokens: maxTokens, name: name, sourceLocation: sourceLocation)
}

/// The same for text that went through the Markdown path: every word outside front matter and
/// HTML comments, and every ATX heading (outside fences) kept.
func expectMarkdownInvariants(_ text: String, _ chunks: [Chunk], maxTokens: Int, name: String,
                              sourceLocation: SourceLocation = #_sourceLocation) {
    expectInvariants(chunks, maxTokens: maxTokens, sourceLocation: sourceLocation)
    var body = text.replacingOccurrences(of: #"<!--[\s\S]*?-->"#, with: " ", options: .regularExpression)
    if body.hasPrefix("---\n"), let end = body.range(of: "\n---\n", range: body.index(body.startIndex, offsetBy: 3)..<body.endIndex) {
        body = String(body[end.upperBound...])
    }
    let missing = maxTokens < wholeWordsFrom ? [] : Set(words(body)).subtracting(storedWords(chunks))
    #expect(missing.isEmpty, "\(name) @\(maxTokens): words missing: \(missing.sorted().prefix(10))", sourceLocation: sourceLocation)

    var headings: [String] = []
    var fence: Character?
    for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
        var t = line.drop { $0 == " " }
        if let marker = t.first, marker == "-" || marker == "*" || marker == "+", t.dropFirst().first == " " { t = t.dropFirst(2) }
        if let f = t.first, (f == "`" || f == "~"), t.hasPrefix(String(repeating: f, count: 3)) {
            fence = fence == nil ? f : (fence == f ? nil : fence)
            continue
        }
        guard fence == nil, let match = t.wholeMatch(of: /(#{1,6})[ \t]+(.*?)([ \t]+#+)?[ \t]*/) else { continue }
        let heading = HeadingText.cleaned(String(match.output.2))
        if !heading.isEmpty { headings.append(heading) }
    }
    expectHeadingsKept(headings, chunks, maxTokens: maxTokens, name: name, sourceLocation: sourceLocation)
}

/// Every heading in a chunk's heading path or as a whole line of a chunk, and no stored heading
/// still ending in a permalink marker.
func expectHeadingsKept(_ headings: [String], _ chunks: [Chunk], maxTokens: Int, name: String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    let inPaths = Set(chunks.flatMap(\.headings))
    let asLines = Set(chunks.flatMap { $0.text.split(separator: "\n").map { String($0.drop { $0 == " " }) } })
    let lost = headings.filter { !inPaths.contains($0) && !asLines.contains($0) }
    #expect(lost.isEmpty, "\(name) @\(maxTokens): headings lost: \(lost.prefix(10))", sourceLocation: sourceLocation)
    let marked = inPaths.filter { HeadingText.cleaned($0) != $0 }
    #expect(marked.isEmpty, "\(name) @\(maxTokens): permalink markers left: \(marked.sorted().prefix(10))", sourceLocation: sourceLocation)
}

/// Words of everything a chunk stores: its text, its heading path, its embedding text.
func storedWords(_ chunks: [Chunk]) -> Set<String> {
    var produced: Set<String> = []
    for chunk in chunks {
        produced.formUnion(words(chunk.embeddingText))
        for heading in chunk.headings { produced.formUnion(words(heading)) }
    }
    return produced
}
