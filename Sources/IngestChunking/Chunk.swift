/// One chunk of a document: what is stored and shown, what is embedded, and where it came from.
package struct Chunk: Sendable, Equatable, Codable {
    /// 0-based position in reading order.
    package var chunkIndex: Int
    /// The chunk's plain text (stored in the index and shown to people).
    package var text: String
    /// Heading context + text: what the embedding model sees.
    package var embeddingText: String
    /// The heading path, outermost first.
    package var headings: [String]
    /// Sorted, distinct page numbers the chunk spans (empty for formats without pages).
    package var pages: [Int]
    /// `self_ref`s of the document items the chunk came from, in reading order.
    package var docItems: [String]
    /// Tokens of `embeddingText` as the model sees them, [CLS] and [SEP] included.
    package var tokenCount: Int

    package init(chunkIndex: Int, text: String, embeddingText: String, headings: [String], pages: [Int], docItems: [String], tokenCount: Int) {
        self.chunkIndex = chunkIndex
        self.text = text
        self.embeddingText = embeddingText
        self.headings = headings
        self.pages = pages
        self.docItems = docItems
        self.tokenCount = tokenCount
    }

    enum CodingKeys: String, CodingKey {
        case chunkIndex = "chunk_index", text, embeddingText = "embedding_text", headings, pages
        case docItems = "doc_items", tokenCount = "token_count"
    }
}
