/// Counts and produces the token ids an embedding model sees, so chunks are sized in the
/// model's own tokens. A protocol so that a model with another tokenizer can plug in later.
package protocol Tokenizer: Sendable {
    /// A stable name, part of the chunk generation hash (changing tokenizer re-chunks).
    var name: String { get }
    /// The model's token ids for `text`, [CLS] and [SEP] included, never truncated.
    func encode(_ text: String) -> [Int]
    /// `encode(text).count`, possibly computed faster.
    func tokenCount(_ text: String) -> Int
    /// `min(tokenCount(text), limit + 1)`: lets a chunker ask "does this fit in `limit`?" and stop
    /// reading a long candidate as soon as the answer is no.
    func tokenCount(_ text: String, limit: Int) -> Int
    /// The model's tokens as strings (word pieces, "[UNK]"), without [CLS]/[SEP]; for debugging
    /// and tests, not for counting.
    func tokenize(_ text: String) -> [String]
}

extension Tokenizer {
    /// Default: count everything, then clamp.
    package func tokenCount(_ text: String, limit: Int) -> Int {
        min(tokenCount(text), limit + 1)
    }

    /// Default for tokenizers without a vocabulary to show: the ids as decimal strings.
    package func tokenize(_ text: String) -> [String] {
        encode(text).dropFirst().dropLast().map { String($0) }
    }
}
