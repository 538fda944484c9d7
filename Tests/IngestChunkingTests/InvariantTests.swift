import Foundation
import IngestChunking
import IngestTokenizer
import Testing

@Suite("Invariants on every fixture and budget")
struct InvariantTests {
    @Test("no chunk over budget (real tokenizer, [CLS]/[SEP] included), none empty, indices in order",
          arguments: [256, 128, 64, 32, 16])
    func budgets(maxTokens: Int) throws {
        for stem in Fixtures.documents {
            let chunks = chunker(maxTokens).chunks(for: try Fixtures.document(stem))
            #expect(!chunks.isEmpty, "\(stem)")
            expectInvariants(chunks, maxTokens: maxTokens)
        }
    }

    @Test("the synthetic 50-page document stays within budget", arguments: [256, 64])
    func synthetic(maxTokens: Int) throws {
        let document = try DoclingJSON.decodeDocument(from: Fixtures.data("synthetic_50_pages.docling.json.gz"))
        let chunks = chunker(maxTokens).chunks(for: document)
        expectInvariants(chunks, maxTokens: maxTokens)
        #expect(Set(chunks.flatMap(\.pages)).count >= 45)
        // Page footers ("Page 7") are furniture even in the body layer.
        #expect(!chunks.contains { $0.text.range(of: #"(^|\n)Page \d+($|\n)"#, options: .regularExpression) != nil })
    }

    @Test("deterministic: the same input gives the same chunks and the same JSON lines")
    func deterministic() throws {
        for stem in Fixtures.documents {
            let document = try Fixtures.document(stem)
            let first = chunker(64).chunks(for: document)
            let second = chunker(64).chunks(for: try Fixtures.document(stem))
            #expect(first == second, "\(stem)")
            var a: [UInt8] = []
            var b: [UInt8] = []
            ChunkJSONLines().append(first, to: &a)
            ChunkJSONLines().append(second, to: &b)
            #expect(a == b)
        }
    }

    @Test("no text is dropped: every word of every body item appears in the chunks (headings in embedding_text)",
          arguments: [256, 32])
    func coverage(maxTokens: Int) throws {
        for stem in Fixtures.documents {
            let document = try Fixtures.document(stem)
            let chunks = chunker(maxTokens).chunks(for: document)
            let produced = Set(chunks.flatMap { words($0.embeddingText) })
            var expected: Set<String> = []
            for item in document.texts where item.isBody && item.label != .pageFooter && item.label != .pageHeader {
                expected.formUnion(words(item.text))
            }
            for table in document.tables where table.isBody {
                for cell in table.data.cells { expected.formUnion(words(cell.text)) }
            }
            // Furniture items are the only text allowed to be missing.
            let furniture = Set(document.texts.filter { !$0.isBody }.flatMap { words($0.text) })
            let missing = expected.subtracting(produced).subtracting(furniture)
            #expect(missing.isEmpty, "\(stem) @\(maxTokens): \(missing.sorted().prefix(10))")
        }
    }

    @Test("a join is free: count(a + \"\\n\" + b) == count(a) + count(b) - 2 with the real tokenizer")
    func additivity() throws {
        var samples: [String] = []
        for stem in Fixtures.documents {
            samples += try Fixtures.document(stem).texts.map(\.text).filter { !$0.isEmpty }
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
