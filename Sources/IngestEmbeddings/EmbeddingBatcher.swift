/// Splits a list of inputs into request-sized batches: pure, so the limits are tested directly.
package enum EmbeddingBatcher {
    /// Consecutive ranges of `tokenCounts` (one entry per input) with at most `maxInputs` inputs
    /// and, where possible, at most `maxTokens` tokens each. An input larger than `maxTokens` on
    /// its own gets a batch of its own (the server decides whether it is too long).
    package static func batches(tokenCounts: [Int], maxInputs: Int, maxTokens: Int) -> [Range<Int>] {
        let maxInputs = max(1, maxInputs)
        var result: [Range<Int>] = []
        var start = 0
        var tokens = 0
        for (index, count) in tokenCounts.enumerated() {
            let size = index - start
            if size > 0 && (size >= maxInputs || tokens + count > maxTokens) {
                result.append(start..<index)
                start = index
                tokens = 0
            }
            tokens += count
        }
        if start < tokenCounts.count { result.append(start..<tokenCounts.count) }
        return result
    }

    /// The token estimate used when no tokenizer is given: about three UTF-8 bytes per token,
    /// a deliberate over-estimate for English so batches stay under the limit.
    package static func estimatedTokens(_ text: String) -> Int {
        max(1, (text.utf8.count + 2) / 3)
    }
}
