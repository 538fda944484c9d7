/// The chunker's limits, in one place so no call site hard-codes a size.
package struct ChunkerOptions: Sendable, Hashable {
    /// Token budget per chunk, counted on `embedding_text` with [CLS] and [SEP] included, so the
    /// embedding model (all-MiniLM-L6-v2 has a 256-token window) never truncates a chunk.
    package var maxTokens: Int
    /// Most of the budget the heading context may take; longer contexts drop their outermost
    /// headings (then get cut) so that a deep or verbose heading path cannot crowd out the text.
    package var maxHeadingTokens: Int

    /// Budgets below `minimumMaxTokens` are raised to it; the heading share is capped at half.
    package init(maxTokens: Int = 256, maxHeadingTokens: Int? = nil) {
        let budget = max(maxTokens, Self.minimumMaxTokens)
        self.maxTokens = budget
        self.maxHeadingTokens = min(maxHeadingTokens ?? budget / 2, budget / 2)
    }

    /// Smallest budget we accept: [CLS] + [SEP] + room for a word piece or two.
    package static let minimumMaxTokens = 8
}
