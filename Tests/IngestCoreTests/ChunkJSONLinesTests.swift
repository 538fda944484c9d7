import Foundation
import IngestChunking
import IngestCore
import IngestKit
import Testing

@Suite("JSON lines output")
struct ChunkJSONLinesTests {
    static let chunks = [
        Chunk(chunkIndex: 0, text: "quote \" backslash \\ tab \t nl \n cr \r bell \u{07} é 🙂 </a>",
              embeddingText: "h\nquote", headings: ["h"], pages: [1, 3], docItems: ["#/texts/1"], tokenCount: 9),
        Chunk(chunkIndex: 1, text: "", embeddingText: "", headings: [], pages: [], docItems: [], tokenCount: 2),
    ]

    @Test("one valid JSON object per chunk, keys in the documented order, strings escaped")
    func lines() throws {
        var json = JSONWriter()
        ChunkJSONLines.append(Self.chunks, to: &json)
        let lines = String(decoding: json.bytes, as: UTF8.self).split(separator: "\n")
        #expect(lines.count == Self.chunks.count)
        for (line, chunk) in zip(lines, Self.chunks) {
            let decoded = try JSONDecoder().decode(Chunk.self, from: Data(line.utf8))
            #expect(decoded == chunk)
        }
        #expect(lines[1] == #"{"chunk_index":1,"text":"","embedding_text":"","headings":[],"pages":[],"token_count":2,"doc_items":[]}"#)
        #expect(lines[0].contains(#""pages":[1,3]"#) && lines[0].contains(#"\u0007"#) && lines[0].contains("</a>"))
    }

    /// `--preview` writes the same line as `ingest chunk` with `source` and `_id` after it (one
    /// key order for both; `--preview` used to sort its keys through `JSONEncoder`).
    @Test("a preview line is the chunk line plus source and _id")
    func previewLine() throws {
        let identity = DocumentIdentity(source: "/d/a.md", documentID: "abc", settings: GenerationSettings(tokenizer: "t", maxTokens: 256, doclingOptions: [:], embeddingModel: "m"))
        var plain = JSONWriter()
        ChunkJSONLines.append([Self.chunks[1]], to: &plain)
        var preview = JSONWriter()
        ChunkJSONLines.append([Self.chunks[1]], identity: identity, to: &preview)
        let expected = String(decoding: plain.bytes.dropLast(2), as: UTF8.self)
            + #","source":"/d/a.md","_id":""# + identity.chunkID(1) + "\"}\n"
        #expect(String(decoding: preview.bytes, as: UTF8.self) == expected)
    }
}
