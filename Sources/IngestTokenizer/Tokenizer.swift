/// Counts and produces the token ids an embedding model sees, so chunks are sized in the
/// model's own tokens. A protocol so that a model with another tokenizer can plug in later.
package protocol Tokenizer: Sendable {
    /// A stable name, part of the chunk generation hash (changing tokenizer re-chunks).
    var name: String { get }
    /// The model's token ids for `text`, [CLS] and [SEP] included, never truncated.
    func encode(_ text: String) -> [Int]
    /// `encode(text).count`, possibly computed faster.
    func tokenCount(_ text: String) -> Int
}
