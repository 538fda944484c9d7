/// BERT uncased WordPiece tokenization (HF `tokenizers` BertNormalizer + BertPreTokenizer +
/// WordPiece + [CLS]/[SEP]), reproducing all-MiniLM-L6-v2's `input_ids` so chunks are sized in
/// the tokens the embedding model really sees.
///
/// One pass over the UTF-8 bytes, with no per-character allocation: ASCII is normalised by table
/// (the common case); only runs of non-ASCII scalars go through Unicode properties and NFD.
package struct WordPieceTokenizer: Tokenizer {
    /// Stable: part of the chunk generation hash, so changing it re-chunks every document.
    package let name: String
    /// The vocabulary (a byte trie) the word pieces are looked up in.
    package let vocabulary: WordPieceVocabulary
    /// HF WordPiece `max_input_chars_per_word`: a longer word is one [UNK].
    package let maxInputCharsPerWord: Int

    /// Why configurable: another BERT-uncased model can reuse this with its own vocab.txt.
    package init(name: String, vocabulary: WordPieceVocabulary, maxInputCharsPerWord: Int = 100) {
        self.name = name
        self.vocabulary = vocabulary
        self.maxInputCharsPerWord = max(1, maxInputCharsPerWord)
    }

    /// all-MiniLM-L6-v2's tokenizer, vocabulary compiled in, built once on first use.
    package static let miniLM = WordPieceTokenizer(
        name: "bert-wordpiece-uncased/all-MiniLM-L6-v2",
        vocabulary: .miniLM,
        maxInputCharsPerWord: 100
    )

    package func encode(_ text: String) -> [Int] {
        var sink = IDSink()
        sink.ids.reserveCapacity(text.utf8.count / 4 + 2)
        sink.ids.append(Int(vocabulary.classifierID))
        scan(text, into: &sink)
        sink.ids.append(Int(vocabulary.separatorID))
        return sink.ids
    }

    package func tokenCount(_ text: String) -> Int {
        var sink = CountSink(limit: .max)
        scan(text, into: &sink)
        return sink.count + 2
    }

    package func tokenCount(_ text: String, limit: Int) -> Int {
        // [CLS] and [SEP] take two of the limit; stop as soon as the rest is exceeded.
        var sink = CountSink(limit: max(limit - 2, -1))
        scan(text, into: &sink)
        return min(sink.count + 2, limit + 1)
    }

    package func tokenize(_ text: String) -> [String] {
        var sink = IDSink()
        scan(text, into: &sink)
        return sink.ids.map { vocabulary.tokens[$0] }
    }
}

// MARK: - Sinks

/// Where word-piece ids go: counted or collected. Generic so the counting path allocates nothing.
protocol TokenSink {
    /// Current length, to roll back a word that turns out to be [UNK].
    var mark: Int { get }
    /// True once the caller's limit is exceeded: scanning may stop.
    var isSaturated: Bool { get }
    mutating func append(_ id: Int32)
    mutating func rollback(to mark: Int)
}

/// Collects ids, for `encode` and `tokenize`.
struct IDSink: TokenSink {
    var ids: [Int] = []
    var mark: Int { ids.count }
    var isSaturated: Bool { false }
    @inline(__always) mutating func append(_ id: Int32) { ids.append(Int(id)) }
    mutating func rollback(to mark: Int) { ids.removeSubrange(mark...) }
}

/// Counts ids, for `tokenCount`; saturates past `limit`.
struct CountSink: TokenSink {
    var count = 0
    let limit: Int
    init(limit: Int) { self.limit = limit }
    var mark: Int { count }
    var isSaturated: Bool { count > limit }
    @inline(__always) mutating func append(_ id: Int32) { count += 1 }
    mutating func rollback(to mark: Int) { count = mark }
}
