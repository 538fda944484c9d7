import Foundation
import IngestChunking
import Testing

@Suite("Chunking the captured DoclingDocuments")
struct DocumentChunkerTests {
    @Test("HTML: heading paths from nested sections, inline runs on one line, list nesting kept")
    func html() throws {
        let chunks = chunker().chunks(for: try Fixtures.document("html"))
        #expect(chunks.map(\.headings) == [
            ["Acme Widget Service - Operations Handbook"],
            ["Acme Widget Service - Operations Handbook", "1. Architecture"],
            ["Acme Widget Service - Operations Handbook", "1. Architecture", "1.1 Components"],
            ["Acme Widget Service - Operations Handbook", "1. Architecture", "1.2 Capacity"],
            ["Acme Widget Service - Operations Handbook", "2. Incident response"],
            ["Acme Widget Service - Operations Handbook", "3. Glossary"],
        ])
        #expect(chunks[0].text.hasPrefix("This handbook describes how the Widget Service is deployed"))
        #expect(chunks[0].docItems == ["#/texts/2", "#/texts/3", "#/texts/4"])
        #expect(chunks[2].text.contains("\n  - Small workers: 2 vCPU, 4 GiB."))
        #expect(chunks[1].embeddingText == "Acme Widget Service - Operations Handbook\n1. Architecture\n" + chunks[1].text)
        #expect(chunks.allSatisfy { $0.pages.isEmpty })
        expectInvariants(chunks, maxTokens: 256)
    }

    @Test("HTML table: caption with its table, header and rows intact, caption emitted once")
    func htmlTable() throws {
        let chunks = chunker().chunks(for: try Fixtures.document("html"))
        let table = try #require(chunks.first { $0.docItems.contains("#/tables/0") })
        #expect(table.docItems == ["#/texts/14", "#/tables/0"])
        #expect(table.text == """
            Table 1: Capacity per region
            | Region | Workers | Peak RPS | p99 latency (ms) |
            | - | - | - | - |
            | eu-west | 12 | 4,200 | 180 |
            | us-east | 20 | 7,900 | 210 |
            | ap-south | 6 | 1,300 | 240 |
            """)
        let all = chunks.map(\.text).joined(separator: "\n")
        #expect(all.components(separatedBy: "Table 1: Capacity per region").count == 2)
    }

    @Test("furniture and notes never reach a chunk (HTML footer and <title>, DOCX header/footer, PPTX notes)")
    func furniture() throws {
        let cases: [(String, [String])] = [
            ("html", ["Last reviewed", "platform@acme.example"]),
            ("docx", ["CONFIDENTIAL", "Quarterly Security Review – Q3 2026"]),
            ("pptx", ["Speaker note", "egress"]),
        ]
        for (stem, hidden) in cases {
            let chunks = chunker().chunks(for: try Fixtures.document(stem))
            for text in hidden {
                #expect(!chunks.contains { $0.embeddingText.contains(text) }, "\(stem): \(text)")
            }
        }
        let html = chunker().chunks(for: try Fixtures.document("html"))
        #expect(!html.contains { $0.docItems.contains("#/texts/0") || $0.docItems.contains("#/texts/27") })
    }

    @Test("DOCX: heading levels, unlinked caption stays a paragraph next to its table")
    func docx() throws {
        let chunks = chunker().chunks(for: try Fixtures.document("docx"))
        #expect(chunks.map { $0.headings.last ?? "" } == [
            "Quarterly Security Review", "Summary of findings", "Legacy VPN concentrator", "Third-party access",
            "Remediation plan", "Appendix",
        ])
        #expect(chunks[2].headings == ["Quarterly Security Review", "Open risks", "Legacy VPN concentrator"])
        let remediation = chunks[4]
        #expect(remediation.text.hasPrefix("| Item | Owner | Due |\n| - | - | - |\n| Replace VPN | Network team | 2027-02-15 |"))
        #expect(remediation.text.hasSuffix("Table 1: Remediation items and owners"))
        #expect(chunks[5].text.contains("All findings are tracked in the GRC tool. Bold note: dates are subject to change."))
        expectInvariants(chunks, maxTokens: 256)
    }

    @Test("Markdown: a flat tree gives the same heading stack; inline code and punctuation joined cleanly")
    func markdown() throws {
        let chunks = chunker().chunks(for: try Fixtures.document("md"))
        #expect(chunks.map(\.headings) == [
            ["Release Notes 4.2"],
            ["Release Notes 4.2", "Highlights"],
            ["Release Notes 4.2", "Breaking changes"],
            ["Release Notes 4.2", "Breaking changes", "Migration table"],
            ["Release Notes 4.2", "Known issues"],
        ])
        #expect(chunks[1].text == "- Faster cold start (median 1.8 s, down from 3.1 s).\n- New `/export` endpoint returning CSV or JSON.\n- Dropped support for TLS 1.0.")
        #expect(chunks[2].text == "1. The `legacy_mode` flag is removed.\n2. Config key `db.pool` is renamed to `db.pool_size`.")
        #expect(chunks[4].text.hasSuffix("```Python\nclient.export(format=\"csv\", since=\"2026-01-01\")\n```"))
    }

    @Test("AsciiDoc: headings from levels; empty table cells do not leak Docling's triplet artefacts")
    func asciidoc() throws {
        let chunks = chunker().chunks(for: try Fixtures.document("asciidoc"))
        #expect(chunks.map(\.headings) == [
            ["Backup Policy", "Scope"], ["Backup Policy", "Schedule"], ["Backup Policy", "Schedule", "Retention"],
            ["Backup Policy", "Restore testing"],
        ])
        #expect(chunks[2].text.hasPrefix("| Backup type | Retention |"))
        #expect(!chunks[2].text.contains("= ."))
    }

    @Test("PPTX: slide numbers as pages, slide title as heading, each slide scoped")
    func pptx() throws {
        let chunks = chunker().chunks(for: try Fixtures.document("pptx"))
        #expect(chunks.map(\.pages) == [[1], [2], [3]])
        #expect(chunks.map(\.headings) == [["Migration to Cloud Storage"], ["Progress"], ["Cost comparison"]])
        #expect(chunks[2].text.hasPrefix("| Item | On-prem (€/month) | Cloud (€/month) |"))
    }

    @Test("XLSX: sheet index as page, sheet name as heading, one chunk per sheet")
    func xlsx() throws {
        let chunks = chunker().chunks(for: try Fixtures.document("xlsx"))
        #expect(chunks.map(\.pages) == [[1], [2]])
        #expect(chunks.map(\.headings) == [["Budget"], ["Headcount"]])
        #expect(chunks[0].text.contains("| Engineering | 120 | 130 | 125 | 140 |"))
        #expect(chunks[1].docItems == ["#/tables/1"])
    }

    @Test("CSV: one table, no headings, no pages; the first column's header is kept")
    func csv() throws {
        let chunks = chunker().chunks(for: try Fixtures.document("csv"))
        #expect(chunks.count == 1)
        #expect(chunks[0].headings.isEmpty && chunks[0].pages.isEmpty)
        #expect(chunks[0].text.hasPrefix("| sku | name | qty | unit_price_eur |"))
        #expect(chunks[0].embeddingText == chunks[0].text)
    }

    @Test("native PDF: page numbers from prov, merged across pages in reading order")
    func pdf() throws {
        let chunks = chunker().chunks(for: try Fixtures.document("pdf_annual_report"))
        #expect(!chunks.isEmpty)
        #expect(Set(chunks.flatMap(\.pages)) == [1, 2, 3])
        #expect(chunks.first?.pages.first == 1)
        let withPage2 = try #require(chunks.first { $0.text.contains("2. Financial results") })
        #expect(withPage2.pages.contains(2))
        expectInvariants(chunks, maxTokens: 256)
        let small = chunker(64).chunks(for: try Fixtures.document("pdf_annual_report"))
        #expect(small.count > chunks.count)
        expectInvariants(small, maxTokens: 64)
    }

    @Test("rowspan/colspan: a two-row header folds into one name per column; the row label stays")
    func spans() throws {
        let chunks = chunker().chunks(for: try Fixtures.document("html_spans"))
        #expect(chunks.count == 1)
        #expect(chunks[0].headings == ["Spans"])
        #expect(chunks[0].text == "| Region | 2026 H1 | 2026 H2 |\n| - | - | - |\n| EU | 10 | 12 |")
    }
}
