import Foundation
import IngestChunking
import Testing

@Suite("JSON lines output")
struct ChunkJSONLinesTests {
    @Test("one valid JSON object per chunk, keys in the documented order, strings escaped")
    func lines() throws {
        let tricky = Chunk(chunkIndex: 0, text: "quote \" backslash \\ tab \t nl \n cr \r bell \u{07} é 🙂 </a>",
                           embeddingText: "h\nquote", headings: ["h"], pages: [1, 3], docItems: ["#/texts/1"], tokenCount: 9)
        let chunks = [tricky] + chunker().chunks(for: try Fixtures.document("html"))
        var output: [UInt8] = []
        ChunkJSONLines().append(chunks, to: &output)
        let lines = String(decoding: output, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == chunks.count)
        for (line, chunk) in zip(lines, chunks) {
            let decoded = try JSONDecoder().decode(Chunk.self, from: Data(line.utf8))
            #expect(decoded == chunk)
        }
        let keys = ["chunk_index", "text", "embedding_text", "headings", "pages", "token_count", "doc_items"]
        let first = String(lines[1])
        let positions = keys.compactMap { first.range(of: "\"\($0)\":")?.lowerBound }
        #expect(positions.count == keys.count && positions == positions.sorted())
        #expect(lines[0].contains(#""pages":[1,3]"#) && lines[0].contains(#"\u0007"#) && lines[0].contains("</a>"))
    }
}
