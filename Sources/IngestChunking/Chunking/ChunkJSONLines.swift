import Foundation

/// JSON Lines for `ingest chunk` and the chunking scripts: one object per chunk, keys in a fixed
/// order (`chunk_index`, `text`, `embedding_text`, `headings`, `pages`, `token_count`,
/// `doc_items`). Written by hand rather than with `JSONEncoder`: on Linux that encoder orders
/// keys by hash (so output changed between runs) and it costs more than the chunking itself.
package struct ChunkJSONLines: Sendable {
    /// Stateless; one value serves a whole run.
    package init() {}

    /// Appends each chunk as one line of JSON to `output`.
    package func append(_ chunks: [Chunk], to output: inout [UInt8]) {
        for chunk in chunks {
            output.append(contentsOf: #"{"chunk_index":"#.utf8)
            output.append(contentsOf: String(chunk.chunkIndex).utf8)
            output.append(contentsOf: #","text":"#.utf8)
            Self.appendString(chunk.text, to: &output)
            output.append(contentsOf: #","embedding_text":"#.utf8)
            Self.appendString(chunk.embeddingText, to: &output)
            output.append(contentsOf: #","headings":["#.utf8)
            for (i, heading) in chunk.headings.enumerated() {
                if i > 0 { output.append(UInt8(ascii: ",")) }
                Self.appendString(heading, to: &output)
            }
            output.append(contentsOf: #"],"pages":["#.utf8)
            output.append(contentsOf: chunk.pages.map(String.init).joined(separator: ",").utf8)
            output.append(contentsOf: #"],"token_count":"#.utf8)
            output.append(contentsOf: String(chunk.tokenCount).utf8)
            output.append(contentsOf: #","doc_items":["#.utf8)
            for (i, item) in chunk.docItems.enumerated() {
                if i > 0 { output.append(UInt8(ascii: ",")) }
                Self.appendString(item, to: &output)
            }
            output.append(contentsOf: "]}\n".utf8)
        }
    }

    /// A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped,
    /// everything else copied as UTF-8 in runs (a byte-at-a-time append was the slowest part of
    /// the benchmark's output).
    static func appendString(_ string: String, to output: inout [UInt8]) {
        output.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { bytes in
            var runStart = 0
            for (i, byte) in bytes.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                if runStart < i { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart..<i])) }
                runStart = i + 1
                switch byte {
                case 0x22: output.append(contentsOf: [0x5C, 0x22])
                case 0x5C: output.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: output.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: output.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: output.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                default:
                    output.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, hexDigits[Int(byte >> 4)], hexDigits[Int(byte & 0xF)]])
                }
            }
            if runStart < bytes.count { output.append(contentsOf: UnsafeBufferPointer(rebasing: bytes[runStart...])) }
        }
        output.append(UInt8(ascii: "\""))
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
