import Foundation
import IngestTokenizer
import Testing

/// The binding contract: every case captured from sentence-transformers (HF `tokenizers`) must
/// come out with exactly the same ids and the same untruncated count.
@Suite("all-MiniLM-L6-v2 reference ids")
struct MiniLMReferenceTests {
    struct Reference: Decodable {
        struct Case: Decodable {
            var text: String
            var inputIDs: [Int]
            var fullTokenCount: Int
            enum CodingKeys: String, CodingKey {
                case text, inputIDs = "input_ids", fullTokenCount = "full_token_count"
            }
        }
        var maxSeqLength: Int
        var cases: [Case]
        enum CodingKeys: String, CodingKey { case maxSeqLength = "max_seq_length", cases }
    }

    static func loadReference() throws -> Reference {
        let url = try #require(Bundle.module.url(forResource: "minilm-reference", withExtension: "json", subdirectory: "Fixtures"))
        return try JSONDecoder().decode(Reference.self, from: Data(contentsOf: url))
    }

    @Test func everyCaseReproducesInputIDs() throws {
        let reference = try Self.loadReference()
        #expect(reference.cases.count == 50)
        let tokenizer = WordPieceTokenizer.miniLM
        for c in reference.cases {
            let ids = tokenizer.encode(c.text)
            #expect(ids.count == c.fullTokenCount, "count for \(c.text.debugDescription)")
            #expect(tokenizer.tokenCount(c.text) == c.fullTokenCount, "tokenCount for \(c.text.debugDescription)")
            // The fixture holds what the model was fed: truncated to max_seq_length, [SEP] kept last.
            let seen = ids.count > reference.maxSeqLength ? Array(ids.prefix(reference.maxSeqLength - 1)) + [102] : ids
            #expect(seen == c.inputIDs, "ids for \(c.text.debugDescription)")
        }
    }
}
