// The stdlib's own NFD (the one String comparison uses) is SPI; importing it avoids Foundation
// and ICU, and keeps the normalisation tables the same as the rest of the Swift runtime.
@_spi(_Unicode) import Swift

/// The normaliser, pre-tokeniser and WordPiece search in one pass over the UTF-8 bytes.
///
/// Order and rules follow HF `tokenizers` (what the embedding server runs), not the older Python
/// BertTokenizer where they differ:
/// 1. special tokens ([CLS], [SEP], [UNK], [PAD], [MASK]) are matched in the raw text first;
/// 2. clean text: drop NUL, U+FFFD and Cc/Cf/Co characters (except \t \n \r), whitespace → space
///    (categories as of Unicode 8.0, see ``LegacyUnicode``);
/// 3. CJK ideographs become words of their own;
/// 4. NFD, drop nonspacing marks (Mn), then lowercase;
/// 5. split on whitespace and punctuation (ASCII punctuation and Unicode P*), punctuation kept;
/// 6. greedy longest-match-first WordPiece, "##" continuation, a word over
///    `maxInputCharsPerWord` characters or with an unmatchable piece is one [UNK].
extension WordPieceTokenizer {
    /// Feeds the word-piece ids of `text` ([CLS]/[SEP] not included) into `sink`.
    func scan<Sink: TokenSink>(_ text: String, into sink: inout Sink) {
        var text = text
        text.withUTF8 { utf8 in
            // A word longer than the limit is [UNK] whatever its bytes, so the buffer never
            // needs more than the limit's worth of 4-byte scalars.
            let capacity = 4 * (maxInputCharsPerWord + 1)
            withUnsafeTemporaryAllocation(of: UInt8.self, capacity: capacity) { buffer in
                var scanner = Scanner(vocabulary: vocabulary, maxChars: maxInputCharsPerWord, word: buffer)
                scanner.run(utf8, into: &sink)
            }
        }
    }
}

/// The state of one scan: the current word's normalised bytes and character count.
private struct Scanner {
    let vocabulary: WordPieceVocabulary
    let maxChars: Int
    let word: UnsafeMutableBufferPointer<UInt8>
    var length = 0
    var chars = 0
    /// Non-ASCII scalars waiting for NFD (a run, so canonical reordering sees all its marks).
    var pending = String.UnicodeScalarView()

    /// Precomputed NFD + strip + lowercase of common non-ASCII scalars.
    let fastFolds = FastFolds.shared

    init(vocabulary: WordPieceVocabulary, maxChars: Int, word: UnsafeMutableBufferPointer<UInt8>) {
        self.vocabulary = vocabulary
        self.maxChars = maxChars
        self.word = word
    }

    mutating func run<Sink: TokenSink>(_ utf8: UnsafeBufferPointer<UInt8>, into sink: inout Sink) {
        let n = utf8.count
        var i = 0
        while i < n {
            let b = utf8[i]
            if b < 0x80 {
                switch asciiKind(b) {
                case .letter:
                    appendASCII(b)
                    i += 1
                case .upper:
                    appendASCII(b | 0x20)
                    i += 1
                case .space:
                    flush(into: &sink)
                    if sink.isSaturated { return }
                    i += 1
                case .punctuation:
                    flush(into: &sink)
                    if b == UInt8(ascii: "["), let (id, length) = specialToken(in: utf8, at: i) {
                        sink.append(id)
                        i += length
                    } else {
                        appendASCII(b)
                        flush(into: &sink)
                        i += 1
                    }
                    if sink.isSaturated { return }
                case .removed:
                    i += 1
                }
            } else {
                // A run of non-ASCII scalars: ASCII characters are starters with no decomposition,
                // so NFD of the whole text is NFD of each such run.
                var j = i
                while j < n, utf8[j] >= 0x80 { j += 1 }
                nonASCIIRun(UnsafeBufferPointer(rebasing: utf8[i..<j]), into: &sink)
                i = j
            }
        }
        flush(into: &sink)
    }

    // MARK: ASCII

    enum ASCIIKind { case letter, upper, space, punctuation, removed }

    @inline(__always)
    func asciiKind(_ b: UInt8) -> ASCIIKind {
        switch b {
        case 0x61...0x7A, 0x30...0x39: return .letter
        case 0x20, 0x09, 0x0A, 0x0D: return .space
        case 0x41...0x5A: return .upper
        case 0x21...0x2F, 0x3A...0x40, 0x5B...0x60, 0x7B...0x7E: return .punctuation
        default: return .removed  // other C0 controls (NUL, \v, \f, …) and DEL
        }
    }

    @inline(__always)
    mutating func appendASCII(_ b: UInt8) {
        chars += 1
        if chars <= maxChars {
            word[length] = b
            length += 1
        }
    }

    /// HF matches the added special tokens in the raw text, case-sensitively, before normalising.
    func specialToken(in utf8: UnsafeBufferPointer<UInt8>, at i: Int) -> (Int32, Int)? {
        for special in vocabulary.specialTokens where i + special.bytes.count <= utf8.count {
            var k = 0
            while k < special.bytes.count, utf8[i + k] == special.bytes[k] { k += 1 }
            if k == special.bytes.count { return (special.id, k) }
        }
        return nil
    }

    // MARK: Non-ASCII

    mutating func nonASCIIRun<Sink: TokenSink>(_ utf8: UnsafeBufferPointer<UInt8>, into sink: inout Sink) {
        var iterator = utf8.makeIterator()
        var decoder = UTF8()
        while case .scalarValue(let scalar) = decoder.decode(&iterator) {
            let value = scalar.value
            if value == 0xFFFD { continue }
            let properties = scalar.properties
            switch properties.generalCategory {
            case .control, .privateUse, .surrogate: continue
            case .format where !LegacyUnicode.isNewer(properties): continue
            default: break
            }
            if properties.isWhitespace {
                drainPending(into: &sink)
                flush(into: &sink)
            } else if isCJKIdeograph(value) {
                drainPending(into: &sink)
                flush(into: &sink)
                if (0xF900...0xFAFF).contains(value) || (0x2F800...0x2FA1F).contains(value) {
                    // Compatibility ideographs decompose canonically to unified ones.
                    pending.append(scalar)
                    drainPending(into: &sink)
                } else {
                    appendScalar(scalar)
                }
                flush(into: &sink)
            } else if let folded = fastFolds.fold(value) {
                // Known not to reorder with its neighbours: finish what is pending, then emit.
                drainPending(into: &sink)
                for folded in folded { normalized(folded, into: &sink) }
            } else {
                pending.append(scalar)
            }
        }
        drainPending(into: &sink)
    }

    /// NFD the pending scalars, drop nonspacing marks, lowercase, then split on punctuation.
    mutating func drainPending<Sink: TokenSink>(into sink: inout Sink) {
        guard !pending.isEmpty else { return }
        let decomposed = String(pending)
        pending.removeAll(keepingCapacity: true)
        for scalar in decomposed._nfd {
            if scalar.value < 0x80 {
                normalizedASCII(UInt8(truncatingIfNeeded: scalar.value), into: &sink)
                continue
            }
            let properties = scalar.properties
            if LegacyUnicode.isNonspacingMark(scalar, properties) { continue }
            if properties.changesWhenLowercased {
                for lower in properties.lowercaseMapping.unicodeScalars { normalized(lower, into: &sink) }
            } else {
                normalized(scalar, into: &sink)
            }
        }
    }

    /// A scalar of the normalised text: the pre-tokeniser's whitespace and punctuation split.
    mutating func normalized<Sink: TokenSink>(_ scalar: Unicode.Scalar, into sink: inout Sink) {
        if scalar.value < 0x80 {
            normalizedASCII(UInt8(truncatingIfNeeded: scalar.value), into: &sink)
            return
        }
        let properties = scalar.properties
        if properties.isWhitespace {
            flush(into: &sink)
            return
        }
        if LegacyUnicode.isPunctuation(scalar, properties) {
            flush(into: &sink)
            appendScalar(scalar)
            flush(into: &sink)
        } else {
            appendScalar(scalar)
        }
    }

    /// An ASCII scalar produced by NFD or lowercasing (already normalised except for case).
    mutating func normalizedASCII<Sink: TokenSink>(_ b: UInt8, into sink: inout Sink) {
        switch asciiKind(b) {
        case .letter: appendASCII(b)
        case .upper: appendASCII(b | 0x20)
        case .space: flush(into: &sink)
        case .punctuation:
            flush(into: &sink)
            appendASCII(b)
            flush(into: &sink)
        case .removed: break
        }
    }

    @inline(__always)
    func isCJKIdeograph(_ v: UInt32) -> Bool {
        // The ideograph blocks HF `tokenizers` pads with spaces (not Hangul, kana, …). Its list
        // starts the last range at U+2B920, not U+2B820 as Google's BERT did; we follow HF.
        switch v {
        case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F,
             0x2B740...0x2B81F, 0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
            return true
        default:
            return false
        }
    }

    mutating func appendScalar(_ scalar: Unicode.Scalar) {
        chars += 1
        guard chars <= maxChars else { return }
        for unit in scalar.utf8 {
            word[length] = unit
            length += 1
        }
    }

    // MARK: WordPiece

    /// Ends the current word: greedy longest-match-first pieces, or one [UNK].
    mutating func flush<Sink: TokenSink>(into sink: inout Sink) {
        guard chars > 0 else { return }
        defer {
            length = 0
            chars = 0
        }
        if chars > maxChars {
            sink.append(vocabulary.unknownID)
            return
        }
        let mark = sink.mark
        let bytes = UnsafeBufferPointer(rebasing: word[0..<length])
        var start = 0
        while start < length {
            var node = start == 0
                ? vocabulary.rootChildren[Int(bytes[0])]
                : vocabulary.continuationChildren[Int(bytes[start])]
            var bestEnd = -1
            var bestID: Int32 = -1
            var i = start
            while node >= 0 {
                i += 1
                let token = vocabulary.nodeToken[Int(node)]
                if token >= 0 {
                    bestEnd = i
                    bestID = token
                }
                if i == length { break }
                node = vocabulary.child(of: node, bytes[i]) ?? -1
            }
            if bestEnd < 0 {
                sink.rollback(to: mark)
                sink.append(vocabulary.unknownID)
                return
            }
            sink.append(bestID)
            start = bestEnd
        }
    }
}

/// HF `tokenizers` takes general categories (Cf, Mn, P*) from the `unicode_categories` crate,
/// whose tables are Unicode 8.0: a character assigned later is "unassigned" there, so it is
/// neither removed, nor stripped, nor split off; it is an ordinary character (usually [UNK]).
/// Swift knows the current categories; these helpers give the Unicode 8.0 answer instead, so the
/// ids match what the embedding server computes (checked on every code point against HF).
enum LegacyUnicode {
    @inline(__always)
    static func isNewer(_ properties: Unicode.Scalar.Properties) -> Bool {
        guard let age = properties.age else { return true }
        return age.major > 8 || (age.major == 8 && age.minor > 0)
    }

    /// Mn in Unicode 8.0. U+1734 and U+1171E were Mn then (Mc now); U+1885, U+1886 (Lo),
    /// U+A9BD (Mc) and U+111C9 (Po) were not (Mn now).
    static func isNonspacingMark(_ scalar: Unicode.Scalar, _ properties: Unicode.Scalar.Properties) -> Bool {
        switch scalar.value {
        case 0x1734, 0x1171E: return true
        case 0x1885, 0x1886, 0xA9BD, 0x111C9: return false
        default: return properties.generalCategory == .nonspacingMark && !isNewer(properties)
        }
    }

    /// P* in Unicode 8.0. U+166D and U+111C9 were Po then (So and Mn now).
    static func isPunctuation(_ scalar: Unicode.Scalar, _ properties: Unicode.Scalar.Properties) -> Bool {
        switch scalar.value {
        case 0x166D, 0x111C9: return true
        default: break
        }
        switch properties.generalCategory {
        case .connectorPunctuation, .dashPunctuation, .openPunctuation, .closePunctuation,
             .initialPunctuation, .finalPunctuation, .otherPunctuation:
            return !isNewer(properties)
        default:
            return false
        }
    }
}

/// NFD, nonspacing-mark stripping and lowercasing of the common non-ASCII scalars (U+0080 to
/// U+07FF: Latin, IPA, combining marks, Greek, Cyrillic, Armenian, Hebrew, Arabic, …), computed
/// once (under a millisecond), so accented text does not build a String and run NFD per word.
///
/// A scalar is only listed when folding it alone equals folding it in context: its decomposition
/// starts with a starter (ccc 0) or is stripped whole, and everything after that starter is
/// stripped. Canonical reordering then cannot move anything that survives across it.
final class FastFolds: Sendable {
    static let shared = FastFolds(range: 0x80..<0x800)

    let range: Range<UInt32>
    /// Per scalar in `range`: `start << 8 | count` into `output`, or `UInt32.max` (not listed).
    let entries: [UInt32]
    let output: [Unicode.Scalar]

    init(range: Range<UInt32>) {
        self.range = range
        var entries: [UInt32] = []
        var output: [Unicode.Scalar] = []
        entries.reserveCapacity(range.count)
        for value in range {
            guard let scalar = Unicode.Scalar(value), let folded = Self.foldAlone(scalar) else {
                entries.append(.max)
                continue
            }
            entries.append(UInt32(output.count) << 8 | UInt32(folded.count))
            output.append(contentsOf: folded)
        }
        self.entries = entries
        self.output = output
    }

    @inline(__always)
    func fold(_ value: UInt32) -> ArraySlice<Unicode.Scalar>? {
        guard range.contains(value) else { return nil }
        let entry = entries[Int(value - range.lowerBound)]
        guard entry != .max else { return nil }
        let start = Int(entry >> 8)
        return output[start..<start + Int(entry & 0xFF)]
    }

    /// The fold of `scalar` on its own, or nil when context could change it.
    private static func foldAlone(_ scalar: Unicode.Scalar) -> [Unicode.Scalar]? {
        let properties = scalar.properties
        switch properties.generalCategory {
        case .control, .format, .privateUse, .surrogate, .unassigned: return nil
        default: break
        }
        if properties.isWhitespace { return nil }
        let decomposed = Array(String(scalar)._nfd)
        guard let first = decomposed.first else { return nil }
        var kept: [Unicode.Scalar] = []
        for (i, part) in decomposed.enumerated() {
            let partProperties = part.properties
            if LegacyUnicode.isNonspacingMark(part, partProperties) { continue }
            // Only a leading starter may survive; a surviving mark could be reordered.
            guard i == 0, partProperties.canonicalCombiningClass == .notReordered else { return nil }
            if partProperties.changesWhenLowercased {
                kept.append(contentsOf: partProperties.lowercaseMapping.unicodeScalars)
            } else {
                kept.append(part)
            }
        }
        // A mark stripped whole is fine; a decomposition led by a stripped mark but keeping
        // more is not (handled by the guard above), nor one whose starter is not first.
        if !kept.isEmpty, first.properties.canonicalCombiningClass != .notReordered { return nil }
        return kept.count < 256 ? kept : nil
    }
}
