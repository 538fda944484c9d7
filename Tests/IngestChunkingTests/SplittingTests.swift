import Foundation
import IngestChunking
import IngestTokenizer
import Testing

/// A tokenizer where whitespace is not free (one token per Unicode scalar), to exercise the
/// chunker's re-measuring path for tokenizers unlike BERT.
private struct ScalarTokenizer: Tokenizer {
    var name: String { "scalar-test" }
    func encode(_ text: String) -> [Int] { [1] + text.unicodeScalars.map { Int($0.value) } + [2] }
    func tokenCount(_ text: String) -> Int { text.unicodeScalars.count + 2 }
}

/// Builds small documents in code for the cases the fixtures do not reach.
private func document(heading: String? = nil, texts: [String] = [], table: DoclingDocument.TableData? = nil,
                      caption: String? = nil) -> DoclingDocument {
    var items: [DoclingDocument.TextItem] = []
    var children: [DoclingRef] = []
    if let heading {
        items.append(.init(label: .sectionHeader, text: heading, level: 1))
        children.append(.text(items.count - 1))
    }
    var captions: [DoclingRef] = []
    if let caption {
        items.append(.init(label: .caption, text: caption))
        captions.append(.text(items.count - 1))
        children.append(.text(items.count - 1))
    }
    var tables: [DoclingDocument.TableItem] = []
    if let table {
        tables.append(.init(data: table, captions: captions))
        children.append(.table(0))
    }
    for text in texts {
        items.append(.init(label: .text, text: text))
        children.append(.text(items.count - 1))
    }
    return DoclingDocument(name: "t", body: .init(children: children), texts: items, tables: tables)
}

private func grid(_ rows: [[String]]) -> DoclingDocument.TableData {
    var cells: [DoclingDocument.TableCell] = []
    for (r, row) in rows.enumerated() {
        for (c, text) in row.enumerated() { cells.append(.init(text: text, row: r, col: c, columnHeader: r == 0)) }
    }
    return .init(numRows: rows.count, numCols: rows.first?.count ?? 0, cells: cells)
}

@Suite("Splitting and merging under the budget")
struct SplittingTests {
    @Test("a long table splits between rows; every part repeats caption and header; row labels stay")
    func tableSplit() throws {
        let rows = [["Region", "Workers", "Peak RPS"]] + (1...40).map { ["region-\($0)", "\($0 * 3)", "\($0 * 100)"] }
        let doc = document(heading: "Capacity", table: grid(rows), caption: "Table 9: capacity")
        let chunks = chunker(64).chunks(for: doc)
        #expect(chunks.count > 3)
        expectInvariants(chunks, maxTokens: 64)
        var seen: [String] = []
        for chunk in chunks {
            let lines = chunk.text.split(separator: "\n").map(String.init)
            #expect(Array(lines.prefix(3)) == ["Table 9: capacity", "| Region | Workers | Peak RPS |", "| - | - | - |"])
            for line in lines.dropFirst(3) {
                #expect(line.hasPrefix("| region-") && line.hasSuffix(" |"), "row split mid-way: \(line)")
                seen.append(line)
            }
            #expect(chunk.docItems == ["#/texts/1", "#/tables/0"])
        }
        #expect(seen == (1...40).map { "| region-\($0) | \($0 * 3) | \($0 * 100) |" })
    }

    @Test("a row wider than the budget becomes 'column: value' lines, each part led by the row label")
    func wideRow() throws {
        let header = ["Name"] + (1...30).map { "Metric \($0)" }
        let row = ["alpha"] + (1...30).map { "value \($0) of alpha" }
        let chunks = chunker(48).chunks(for: document(table: grid([header, row])))
        #expect(chunks.count > 1)
        expectInvariants(chunks, maxTokens: 48)
        for chunk in chunks {
            #expect(chunk.text.hasPrefix("Name: alpha\n"), "\(chunk.text)")
        }
        let all = chunks.map(\.text).joined(separator: "\n")
        for i in 1...30 { #expect(all.contains("Metric \(i): value \(i) of alpha")) }
    }

    @Test("a long paragraph splits at sentence ends; small neighbours under one heading merge")
    func sentences() throws {
        let sentence = (1...30).map { "Sentence number \($0) talks about widgets and their gateways." }
        let doc = document(heading: "Long", texts: [sentence.joined(separator: " "), "Short one.", "Short two."])
        let chunks = chunker(64).chunks(for: doc)
        expectInvariants(chunks, maxTokens: 64)
        for chunk in chunks.dropLast() {
            #expect(chunk.text.hasSuffix("."), "\(chunk.text)")
            #expect(chunk.text.hasPrefix("Sentence number"))
        }
        #expect(chunks.last?.text.hasSuffix("Short one.\n\nShort two.") == true)
        #expect(chunks.allSatisfy { $0.headings == ["Long"] })
    }

    @Test("a sentence without breaks splits between words; a giant 'word' by characters")
    func wordsAndCharacters() throws {
        let longSentence = (1...200).map { "word\($0)" }.joined(separator: " ")
        let chunks = chunker(32).chunks(for: document(texts: [longSentence]))
        expectInvariants(chunks, maxTokens: 32)
        #expect(chunks.count > 5)
        #expect(words(chunks.map(\.text).joined(separator: " ")) == (1...200).map { "word\($0)" })

        // No whitespace but many tokens (BERT splits at punctuation): only a character split fits.
        let giant = String(repeating: "ab-", count: 400)
        let parts = chunker(32).chunks(for: document(texts: [giant]))
        expectInvariants(parts, maxTokens: 32)
        #expect(parts.count > 10)
        #expect(parts.map(\.text).joined() == giant)

        // A word over 100 characters is one [UNK] for BERT: it fits whole.
        let unknown = String(repeating: "abcdefghij", count: 30)
        #expect(chunker(32).chunks(for: document(texts: [unknown])).map(\.tokenCount) == [3])
    }

    @Test("a heading context longer than the budget is shortened, never exceeded")
    func hugeHeading() throws {
        let heading = (1...300).map { "heading\($0)" }.joined(separator: " ")
        let chunks = chunker(64).chunks(for: document(heading: heading, texts: ["Body text under a very long heading."]))
        expectInvariants(chunks, maxTokens: 64)
        #expect(chunks.count == 1)
        #expect(chunks[0].headings == [heading])
        #expect(chunks[0].embeddingText.hasSuffix("\nBody text under a very long heading."))
        #expect(chunks[0].embeddingText.hasPrefix("heading1 heading2"))
    }

    @Test("deep heading paths drop their outermost headings first")
    func deepHeadings() throws {
        var items: [DoclingDocument.TextItem] = []
        for level in 1...12 {
            items.append(.init(label: .sectionHeader, text: "Level \(level) heading with several words in it", level: level))
        }
        items.append(.init(label: .text, text: "The content."))
        let doc = DoclingDocument(name: "deep", body: .init(children: items.indices.map { .text($0) }), texts: items)
        let chunks = chunker(64).chunks(for: doc)
        expectInvariants(chunks, maxTokens: 64)
        #expect(chunks.count == 1)
        #expect(chunks[0].headings.count == 12)
        #expect(chunks[0].embeddingText.contains("Level 12 heading"))
        #expect(!chunks[0].embeddingText.contains("Level 1 heading"))
    }

    @Test("chunks under different headings never merge")
    func noMergeAcrossHeadings() throws {
        let items: [DoclingDocument.TextItem] = [
            .init(label: .sectionHeader, text: "A", level: 1), .init(label: .text, text: "one"),
            .init(label: .sectionHeader, text: "B", level: 1), .init(label: .text, text: "two"),
        ]
        let doc = DoclingDocument(name: "x", body: .init(children: items.indices.map { .text($0) }), texts: items)
        #expect(chunker().chunks(for: doc).map(\.text) == ["one", "two"])
    }

    @Test("a document with no text gives no chunks; one with only a title keeps the title (no heading is lost)")
    func empty() {
        let blank: [DoclingDocument.TextItem] = [.init(label: .title, text: "  "), .init(label: .text, text: "  ")]
        #expect(chunker().chunks(for: DoclingDocument(name: "x", body: .init(children: [.text(0), .text(1)]), texts: blank)).isEmpty)
        let items: [DoclingDocument.TextItem] = [.init(label: .title, text: "Only a title"), .init(label: .text, text: "  ")]
        let doc = DoclingDocument(name: "x", body: .init(children: items.indices.map { .text($0) }), texts: items)
        let chunks = chunker().chunks(for: doc)
        #expect(chunks.map(\.text) == ["Only a title"])
        #expect(chunks.map(\.headings) == [[]])
        #expect(chunks.map(\.docItems) == [["#/texts/0"]])
    }

    @Test("a tokenizer whose joins cost tokens still never gets a chunk over budget", arguments: [256, 64, 24])
    func nonAdditiveTokenizer(maxTokens: Int) throws {
        let tokenizer = ScalarTokenizer()
        for stem in Fixtures.documents {
            let chunks = DocumentChunker(tokenizer: tokenizer, options: ChunkerOptions(maxTokens: maxTokens))
                .chunks(for: try Fixtures.document(stem))
            #expect(!chunks.isEmpty)
            for chunk in chunks {
                #expect(chunk.tokenCount == tokenizer.tokenCount(chunk.embeddingText), "\(stem)")
                #expect(chunk.tokenCount <= maxTokens, "\(stem): \(chunk.tokenCount)")
                #expect(!chunk.text.isEmpty)
            }
        }
    }

    @Test("malformed input: $ref cycles, refs out of range and absurd nesting neither crash nor loop")
    func malformed() throws {
        // group 0 -> group 1 -> group 0 (cycle), a ref past the end, and a 100k-deep chain.
        var groups: [DoclingDocument.Group] = [.init(children: [.group(1), .text(99)]), .init(children: [.group(0), .text(0)])]
        let chainStart = groups.count
        for i in 0..<100_000 { groups.append(.init(children: [.group(chainStart + i + 1)])) }
        groups.append(.init(children: [.text(0)]))
        let doc = DoclingDocument(name: "bad", body: .init(children: [.group(0), .group(chainStart)]),
                                  texts: [.init(label: .text, text: "Still here.")], groups: groups)
        #expect(chunker().chunks(for: doc).map(\.text) == ["Still here."])

        let deep = String(repeating: "[", count: 100_000) + String(repeating: "]", count: 100_000)
        let json = #"{"schema_name":"DoclingDocument","name":"x","extra":"# + deep + "}"
        #expect(throws: DoclingDecodingError.self) { try DoclingJSON.decodeDocument(from: Data(json.utf8)) }
    }

    @Test("a header row with an empty, unflagged top-left cell is still the header")
    func emptyCorner() {
        let cells: [DoclingDocument.TableCell] = [
            .init(text: "", row: 0, col: 0), .init(text: "2025", row: 0, col: 1, columnHeader: true),
            .init(text: "2026", row: 0, col: 2, columnHeader: true),
            .init(text: "Revenue", row: 1, col: 0, rowHeader: true), .init(text: "412", row: 1, col: 1), .init(text: "470", row: 1, col: 2),
        ]
        let chunks = chunker().chunks(for: document(table: .init(numRows: 2, numCols: 3, cells: cells)))
        #expect(chunks.map(\.text) == ["|  | 2025 | 2026 |\n| - | - | - |\n| Revenue | 412 | 470 |"])
    }
}
