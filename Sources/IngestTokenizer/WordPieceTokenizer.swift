// STUB: replaced by the tokenizer work (BERT WordPiece of all-MiniLM-L6-v2, vocab compiled in).
package struct WordPieceTokenizer: Tokenizer {
    package var name: String { "wordpiece-stub" }
    package static let miniLM = WordPieceTokenizer()
    package func encode(_ text: String) -> [Int] { [101] + text.split(separator: " ").map { _ in 100 } + [102] }
    package func tokenCount(_ text: String) -> Int { encode(text).count }
}
