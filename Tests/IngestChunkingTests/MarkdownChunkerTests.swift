import Foundation
import IngestChunking
import Testing

@Suite("The Markdown / plain-text path")
struct MarkdownChunkerTests {
    @Test("Docling's md_content: the same headings and units as the DoclingDocument path")
    func releaseNotes() throws {
        let chunks = chunker().chunks(forMarkdown: try Fixtures.text("release_notes.md"))
        #expect(chunks.map(\.headings) == [
            ["Release Notes 4.2"],
            ["Release Notes 4.2", "Highlights"],
            ["Release Notes 4.2", "Breaking changes"],
            ["Release Notes 4.2", "Breaking changes", "Migration table"],
            ["Release Notes 4.2", "Known issues"],
        ])
        #expect(chunks[3].text.hasPrefix("| Old key   | New key           |   Default |"))
        #expect(chunks[4].text.hasSuffix("```\nclient.export(format=\"csv\", since=\"2026-01-01\")\n```"))
        #expect(chunks.allSatisfy { $0.docItems.isEmpty && $0.pages.isEmpty })
        expectInvariants(chunks, maxTokens: 256)
    }

    @Test("HTML's md_content keeps nested lists and the image placeholder is dropped")
    func handbook() throws {
        let chunks = chunker().chunks(forMarkdown: try Fixtures.text("handbook.md"))
        #expect(chunks.contains { $0.text.contains("- Workers: render widgets; each worker holds at most 64 concurrent jobs.\n    - Small workers") })
        #expect(!chunks.contains { $0.text.contains("<!--") })
        expectInvariants(chunks, maxTokens: 256)
    }

    @Test("budgets hold on the Markdown path too", arguments: [128, 48, 16])
    func budgets(maxTokens: Int) throws {
        for name in ["release_notes.md", "handbook.md"] {
            expectInvariants(chunker(maxTokens).chunks(forMarkdown: try Fixtures.text(name)), maxTokens: maxTokens)
        }
    }

    @Test("a split Markdown table repeats its header; a split code block repeats its fences")
    func splitTableAndCode() {
        let rows = (1...30).map { "| item-\($0) | \($0) |" }.joined(separator: "\n")
        let code = (1...40).map { "let value\($0) = compute(\($0))" }.joined(separator: "\n")
        let text = "# Data\n\n| Name | Count |\n|---|---|\n\(rows)\n\n## Code\n\n```swift\n\(code)\n```\n"
        let chunks = chunker(48).chunks(forMarkdown: text)
        expectInvariants(chunks, maxTokens: 48)
        let tables = chunks.filter { $0.headings == ["Data"] }
        #expect(tables.count > 1)
        for chunk in tables {
            #expect(chunk.text.hasPrefix("| Name | Count |\n|---|---|\n| item-"))
        }
        let codeParts = chunks.filter { $0.headings == ["Data", "Code"] }
        #expect(codeParts.count > 1)
        for chunk in codeParts {
            #expect(chunk.text.hasPrefix("```swift\nlet value") && chunk.text.hasSuffix("\n```"))
        }
    }

    @Test("plain text: setext headings, paragraphs and hard-wrapped lines; front matter skipped")
    func plainText() {
        let text = """
            ---
            title: ignored
            ---
            Overview
            ========

            First paragraph, wrapped
            over two lines.

            Details
            -------
            * one
            * two
            """
        let chunks = chunker().chunks(forMarkdown: text)
        #expect(chunks.map(\.headings) == [["Overview"], ["Overview", "Details"]])
        #expect(chunks[0].text == "First paragraph, wrapped\nover two lines.")
        #expect(chunks[1].text == "* one\n* two")
        #expect(!chunks.contains { $0.embeddingText.contains("ignored") })
    }

    @Test("empty and whitespace-only text give no chunks; a lone heading is kept as the chunk's text")
    func empty() {
        #expect(chunker().chunks(forMarkdown: "").isEmpty)
        #expect(chunker().chunks(forMarkdown: "\n \n#\n\n").isEmpty)
        let chunks = chunker().chunks(forMarkdown: "\n \n# Only a heading\n")
        #expect(chunks.map(\.text) == ["Only a heading"] && chunks.map(\.headings) == [[]])
    }
}
