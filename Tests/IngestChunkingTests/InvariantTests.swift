import Foundation
import IngestChunking
import IngestTokenizer
import Testing

@Suite("Invariants on every fixture and budget")
struct InvariantTests {
    /// Every DoclingDocument and Markdown fixture the chunker tests use, at every budget: the
    /// checks are written once (Support.swift) and hold for every document.
    static let budgets = [256, 128, 64, 32, 16]

    @Test("every DoclingDocument fixture: within budget (real tokenizer, [CLS]/[SEP] included), none empty, every body word, pages when paginated, no heading lost",
          arguments: budgets)
    func documents(maxTokens: Int) throws {
        for name in Fixtures.documents {
            let document = try Fixtures.document(name)
            let chunks = chunker(maxTokens).chunks(for: document)
            #expect(!chunks.isEmpty, "\(name)")
            expectDocumentInvariants(document, chunks, maxTokens: maxTokens, name: name)
        }
    }

    @Test("every Markdown fixture: the same checks on the Markdown path", arguments: budgets)
    func markdown(maxTokens: Int) throws {
        for name in Fixtures.markdown {
            let text = try Fixtures.text(name)
            let chunks = chunker(maxTokens).chunks(forMarkdown: text)
            #expect(!chunks.isEmpty, "\(name)")
            expectMarkdownInvariants(text, chunks, maxTokens: maxTokens, name: name)
        }
    }

    @Test("the synthetic 50-page document: pages spread, page footers left out", arguments: [256, 64])
    func synthetic(maxTokens: Int) throws {
        let chunks = chunker(maxTokens).chunks(for: try Fixtures.document("synthetic_50_pages.docling.json.gz"))
        #expect(Set(chunks.flatMap(\.pages)).count >= 45)
        // Page footers ("Page 7") are furniture even in the body layer.
        #expect(!chunks.contains { $0.text.range(of: #"(^|\n)Page \d+($|\n)"#, options: .regularExpression) != nil })
    }

    @Test("deterministic: the same input gives the same chunks")
    func deterministic() throws {
        for name in Fixtures.documents {
            let document = try Fixtures.document(name)
            let first = chunker(64).chunks(for: document)
            let second = chunker(64).chunks(for: try Fixtures.document(name))
            // Equal chunks make equal JSON lines: the line writer (IngestCore) is a function of the chunk.
            #expect(first == second, "\(name)")
        }
    }

    @Test("a join is free: count(a + \"\\n\" + b) == count(a) + count(b) - 2 with the real tokenizer")
    func additivity() throws {
        var samples: [String] = []
        for name in Fixtures.documents {
            samples += try Fixtures.document(name).texts.map(\.text).filter { !$0.isEmpty }
        }
        samples += ["| a | b |", "| --- | --- |", "```swift", "Région: naïve café", "東京 都", "x", "- item", "emoji 🙂 ok"]
        for (a, b) in zip(samples, samples.dropFirst()) {
            for joiner in ["\n", "\n\n", " "] {
                #expect(miniLM.tokenCount(a + joiner + b) == miniLM.tokenCount(a) + miniLM.tokenCount(b) - 2, "\(a) | \(b)")
            }
        }
        #expect(miniLM.tokenCount("") == 2)
    }
}
