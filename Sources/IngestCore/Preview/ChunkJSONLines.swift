import IngestChunking
import IngestKit

/// A chunk as one line of JSON, the one shape `ingest chunk` and `--preview` both write: keys in
/// a fixed order (`chunk_index`, `text`, `embedding_text`, `headings`, `pages`, `token_count`,
/// `doc_items`), then for `--preview` the `source` and the `_id` the chunk would get. Written
/// with ``JSONWriter`` rather than `JSONEncoder`: on Linux that encoder orders keys by hash (so
/// output changed between runs) and it costs more than the chunking itself.
package enum ChunkJSONLines {
    /// Appends each chunk as one line (`\n`-terminated) to `json`.
    /// - Parameter identity: for `--preview`, the document the chunks belong to: each line then
    ///   also carries `source` and `_id`.
    package static func append(_ chunks: [Chunk], identity: DocumentIdentity? = nil, to json: inout JSONWriter) {
        for chunk in chunks {
            json.raw(UInt8(ascii: "{"))
            json.key("chunk_index"); json.int(chunk.chunkIndex)
            json.key("text"); json.string(chunk.text)
            json.key("embedding_text"); json.string(chunk.embeddingText)
            json.key("headings"); json.strings(chunk.headings)
            json.key("pages"); json.ints(chunk.pages)
            json.key("token_count"); json.int(chunk.tokenCount)
            json.key("doc_items"); json.strings(chunk.docItems)
            if let identity {
                json.key("source"); json.string(identity.source)
                json.key("_id"); json.string(identity.chunkID(chunk.chunkIndex))
            }
            json.raw("}\n")
        }
    }
}
