import IngestTokenizer
import Testing

/// Focused cases of BERT basic tokenization and WordPiece, with ids checked against HF `tokenizers`.
@Suite("WordPiece tokenizer")
struct WordPieceTokenizerTests {
    let tokenizer = WordPieceTokenizer.miniLM

    @Test func nameIsStable() {
        #expect(tokenizer.name == "bert-wordpiece-uncased/all-MiniLM-L6-v2")
    }

    @Test func emptyAndBlankTextAreOnlyClsAndSep() {
        #expect(tokenizer.encode("") == [101, 102])
        #expect(tokenizer.encode(" \t\r\n ") == [101, 102])
        #expect(tokenizer.tokenCount("") == 2)
    }

    @Test func lowercasesAndSplitsPunctuation() {
        #expect(tokenizer.tokenize("Hello, World!") == ["hello", ",", "world", "!"])
        #expect(tokenizer.encode("Hello, World!") == [101, 7592, 1010, 2088, 999, 102])
    }

    @Test func continuationPieces() {
        #expect(tokenizer.tokenize("unaffable") == ["una", "##ffa", "##ble"])
        #expect(tokenizer.tokenize("snake_case") == ["snake", "_", "case"])
    }

    @Test func stripsAccentsAfterNFD() {
        #expect(tokenizer.tokenize("naïve café résumé") == ["naive", "cafe", "resume"])
        // Decomposed input gives the same result as precomposed.
        #expect(tokenizer.encode("cafe\u{301}") == tokenizer.encode("café"))
        #expect(tokenizer.tokenize("İstanbul") == ["istanbul"])
    }

    @Test func cjkIdeographsAreSingleWords() {
        #expect(tokenizer.tokenize("北京欢迎你") == ["北", "京", "[UNK]", "[UNK]", "[UNK]"])
        // A compatibility ideograph decomposes to the unified one (U+F900 → U+8C48).
        #expect(tokenizer.encode("\u{F900}") == tokenizer.encode("\u{8C48}"))
    }

    @Test func hangulDecomposesToJamo() {
        #expect(tokenizer.encode("한국어") == [101, 1469, 30006, 30021, 29991, 30014, 30020, 29999, 30008, 102])
    }

    @Test func overlongWordIsOneUnknown() {
        let long = String(repeating: "a", count: 101)
        #expect(tokenizer.encode(long) == [101, 100, 102])
        #expect(tokenizer.tokenCount(String(repeating: "ab", count: 50)) > 3)  // exactly 100 chars: split
        #expect(tokenizer.encode("x " + String(repeating: "é", count: 150) + " y") == [101, 1060, 100, 1061, 102])
    }

    @Test func wordWithUnmatchablePieceIsOneUnknown() {
        #expect(tokenizer.encode("ab🚀cd") == [101, 100, 102])
    }

    @Test func controlAndFormatCharactersAreRemoved() {
        #expect(tokenizer.encode("a\u{0}b") == [101, 11113, 102])
        #expect(tokenizer.encode("a\u{200B}b") == [101, 11113, 102])
        #expect(tokenizer.encode("a\u{FFFD}b") == [101, 11113, 102])
        #expect(tokenizer.encode("a\u{0B}b\u{85}") == [101, 11113, 102])
        #expect(tokenizer.encode("a\u{E000}b") == [101, 11113, 102])  // private use
        #expect(tokenizer.encode("a\u{2028}b") == [101, 1037, 1038, 102])  // line separator: whitespace
        #expect(tokenizer.encode("a\u{A0}b") == [101, 1037, 1038, 102])
    }

    @Test func emojiIsUnknown() {
        #expect(tokenizer.encode("Emoji test 🚀🔥 done") == [101, 7861, 29147, 2072, 3231, 100, 2589, 102])
        #expect(tokenizer.encode("x 🥲 y") == [101, 1060, 100, 1061, 102])
    }

    @Test func specialTokensInTextAreMatchedCaseSensitively() {
        #expect(tokenizer.encode("x [CLS] y [sep] z[MASK]") == [101, 1060, 101, 1061, 1031, 19802, 1033, 1062, 103, 102])
    }

    @Test func unicodePunctuationSplits() {
        #expect(tokenizer.tokenize("déjà—vu") == ["de", "##ja", "—", "vu"])
        #expect(tokenizer.tokenize("«quote»") == ["«", "quote", "»"])
    }

    @Test func countMatchesEncodeAndLimitStopsEarly() {
        let text = String(repeating: "The ingestion worker splits documents into chunks. ", count: 40)
        let full = tokenizer.tokenCount(text)
        #expect(full == tokenizer.encode(text).count)
        #expect(tokenizer.tokenCount(text, limit: 50) == 51)
        #expect(tokenizer.tokenCount(text, limit: full) == full)
        #expect(tokenizer.tokenCount(text, limit: full - 1) == full)
        #expect(tokenizer.tokenCount("", limit: 0) == 1)
    }

    @Test func vocabularyIsComplete() {
        let vocabulary = tokenizer.vocabulary
        #expect(vocabulary.tokens.count == 30_522)
        #expect(vocabulary.id(of: "[UNK]") == 100)
        #expect(vocabulary.id(of: "##～") == 30_521)
        #expect(vocabulary.id(of: "\"") == 1000)
        #expect(vocabulary.id(of: "##ing") == 2075)
        #expect(vocabulary.id(of: "notatoken") == nil)
    }
    @Test func charactersNewerThanUnicode8AreOrdinary() {
        // HF takes categories from Unicode 8.0 tables: a later format char, mark or punctuation
        // is an ordinary character there (so the word is [UNK]), not removed, stripped or split.
        #expect(tokenizer.encode("a\u{0890}b") == [101, 100, 102])  // Cf since Unicode 14
        #expect(tokenizer.encode("a\u{1AC1}b") == [101, 100, 102])  // Mn since Unicode 14
        #expect(tokenizer.encode("x\u{2E5E}y") == [101, 100, 102])  // Po since Unicode 14
        // Category changes since 8.0 follow the 8.0 value.
        #expect(tokenizer.encode("a\u{1734}b") == [101, 11113, 102])  // Mn in 8.0, Mc now
        #expect(tokenizer.encode("a\u{166D}b") == [101, 1037, 100, 1038, 102])  // Po in 8.0, So now
    }

    @Test func ideographRangesFollowHF() {
        // U+2B820…U+2B91F are not padded by HF (its range starts at U+2B920).
        #expect(tokenizer.encode("a\u{2B820}b") == [101, 100, 102])
        #expect(tokenizer.encode("a\u{2B920}b") == [101, 1037, 100, 1038, 102])
    }
}
