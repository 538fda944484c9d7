import IngestTokenizer

/// Sizes, splits and merges blocks into chunks under the token budget.
///
/// Token counts are taken once per line and summed: every join the packer makes contains
/// whitespace ("\n", "\n\n", " "), which a BERT tokenizer drops, so count(a + "\n" + b) ==
/// count(a) + count(b) when [CLS]/[SEP] are left out (checked in the tests with the real
/// tokenizer). The final `token_count` is still measured on the real `embedding_text`, and a
/// chunk that would exceed the budget anyway (a tokenizer without that property) is cut again.
struct Packer {
    let tokenizer: any Tokenizer
    let options: ChunkerOptions
    /// Tokens the tokenizer adds to any text ([CLS] and [SEP]: 2 for BERT).
    let specialTokens: Int
    /// Whether whitespace joins add no tokens (true for BERT WordPiece, which splits on
    /// whitespace before anything else). When true, summed counts are exact and the chunker skips
    /// re-tokenizing each finished chunk; when false, every chunk is measured again.
    let joinsAreFree: Bool

    init(tokenizer: any Tokenizer, options: ChunkerOptions) {
        self.tokenizer = tokenizer
        self.options = options
        let specials = tokenizer.tokenCount("")
        self.specialTokens = specials
        self.joinsAreFree = Self.joinProbes.allSatisfy { a in
            Self.joinProbes.allSatisfy { b in
                ["\n", "\n\n", " "].allSatisfy { joiner in
                    tokenizer.tokenCount(a + joiner + b) == tokenizer.tokenCount(a) + tokenizer.tokenCount(b) - specials
                }
            }
        }
    }

    /// Texts whose joins reveal a tokenizer that merges across whitespace (BPE with leading
    /// spaces, newline tokens): words, punctuation at both ends, CJK, accents, emoji, markup.
    private static let joinProbes = ["word", "end.", "(x)", "東京", "café", "a-b", "```", "| a |", "🙂", "x\ny", "1,200", "--"]

    /// Content tokens of `text`, without [CLS]/[SEP].
    func count(_ text: some StringProtocol) -> Int {
        max(0, tokenizer.tokenCount(String(text)) - specialTokens)
    }

    // MARK: - Heading context

    struct Context {
        var text: String
        var tokens: Int
    }

    /// The heading context embedded before a chunk's text, shortened to `maxHeadingTokens`:
    /// outermost headings go first, then the innermost one is cut.
    func context(for path: [String]) -> Context {
        guard !path.isEmpty else { return Context(text: "", tokens: 0) }
        var kept = path[...]
        var counts = path.map { count($0) }[...]
        var total = counts.reduce(0, +)
        while total > options.maxHeadingTokens, kept.count > 1 {
            total -= counts.removeFirst()
            kept.removeFirst()
        }
        if total > options.maxHeadingTokens, let only = kept.first {
            guard let piece = splitText(only[...], budget: options.maxHeadingTokens).first else {
                return Context(text: "", tokens: 0)
            }
            return Context(text: String(piece.text), tokens: piece.tokens)
        }
        return Context(text: kept.joined(separator: "\n"), tokens: total)
    }

    // MARK: - Parts

    /// A piece of one block that fits the budget on its own.
    struct Part {
        var headingPath: Int
        var text: String
        var tokens: Int
        var items: [DoclingRef]
        var pages: [Int]
    }

    /// Splits a block into parts of at most `budget` content tokens: between lines, repeating
    /// `head`/`tail` in every part; a line too long alone is split at sentences, then words,
    /// then characters (a table row becomes labelled cells first).
    func parts(of block: Block, budget: Int) -> [Part] {
        var block = block
        measure(&block.head)
        measure(&block.lines)
        measure(&block.tail)
        let headTokens = block.head.reduce(0) { $0 + $1.tokens }
        let tailTokens = block.tail.reduce(0) { $0 + $1.tokens }
        let bodyTokens = block.lines.reduce(0) { $0 + $1.tokens }
        if headTokens + bodyTokens + tailTokens <= budget {
            return [makePart(block.headingPath, block.head + block.lines + block.tail)]
        }

        // Repeating head and tail must leave most of each part for content.
        if headTokens + tailTokens > budget / 2 {
            switch block.kind {
            case .table:
                // Caption and header too big to repeat: every row becomes labelled cells.
                let captions = block.head.dropLast(min(2, block.head.count))
                var lines = Array(captions)
                for row in block.lines {
                    if let cells = row.cells {
                        var line = Line(text: cellLines(cells).joined(separator: "\n"), items: row.items, pages: row.pages, cells: cells)
                        line.tokens = count(line.text)
                        lines.append(line)
                    } else {
                        lines.append(row)
                    }
                }
                block.lines = lines
            case .code, .list, .text:
                block.lines = block.head + block.lines + block.tail
            }
            block.head = []
            block.tail = []
            return greedyParts(block, budget: budget, headTokens: 0, tailTokens: 0)
        }
        return greedyParts(block, budget: budget, headTokens: headTokens, tailTokens: tailTokens)
    }

    private func greedyParts(_ block: Block, budget: Int, headTokens: Int, tailTokens: Int) -> [Part] {
        let room = budget - headTokens - tailTokens
        var parts: [Part] = []
        var current: [Line] = []
        var currentTokens = 0
        func flush() {
            guard !current.isEmpty else { return }
            parts.append(makePart(block.headingPath, block.head + current + block.tail))
            current = []
            currentTokens = 0
        }
        for line in block.lines {
            if line.tokens > room {
                flush()
                parts += oversized(line, block: block, budget: budget, room: room)
                continue
            }
            if currentTokens + line.tokens > room { flush() }
            current.append(line)
            currentTokens += line.tokens
        }
        flush()
        return parts
    }

    /// A line that does not fit in a part on its own.
    private func oversized(_ line: Line, block: Block, budget: Int, room: Int) -> [Part] {
        if let cells = line.cells {
            return rowParts(cells, line: line, path: block.headingPath, budget: budget)
        }
        return splitText(line.text[...], budget: room).map { piece in
            var pieceLine = Line(text: String(piece.text), items: line.items, pages: line.pages)
            pieceLine.tokens = piece.tokens
            return makePart(block.headingPath, block.head + [pieceLine] + block.tail)
        }
    }

    /// "Column: value" lines for a table row, the row label first.
    private func cellLines(_ cells: TableRowCells) -> [String] {
        var lines: [String] = []
        if let label = cells.label { lines.append(Self.labelled(label.name, label.value)) }
        for cell in cells.cells { lines.append(Self.labelled(cell.name, cell.value)) }
        return lines
    }

    private static func labelled(_ name: String, _ value: String) -> String {
        name.isEmpty ? value : name + ": " + value
    }

    /// A table row too wide for one part: its cells as "column: value" lines, each part opening
    /// with the row label so no part loses which row it belongs to.
    private func rowParts(_ cells: TableRowCells, line: Line, path: Int, budget: Int) -> [Part] {
        var prefix = cells.label.map { Self.labelled($0.name, $0.value) } ?? ""
        var prefixTokens = prefix.isEmpty ? 0 : count(prefix)
        if prefixTokens > budget / 2 {
            prefix = ""
            prefixTokens = 0
        }
        var parts: [Part] = []
        var current: [String] = prefix.isEmpty ? [] : [prefix]
        var currentTokens = prefixTokens
        var hasCell = false
        func flush() {
            guard hasCell else { return }
            parts.append(Part(headingPath: path, text: current.joined(separator: "\n"), tokens: currentTokens, items: line.items, pages: line.pages))
            current = prefix.isEmpty ? [] : [prefix]
            currentTokens = prefixTokens
            hasCell = false
        }
        var all = cells.cells
        if prefix.isEmpty, let label = cells.label { all.insert(label, at: 0) }
        for cell in all {
            let text = Self.labelled(cell.name, cell.value)
            let tokens = count(text)
            if prefixTokens + tokens > budget {
                flush()
                // The value is cut into pieces, each behind the row label and column name while
                // they leave a quarter of the budget for the value (tiny budgets drop them).
                let minimum = max(1, budget / 4)
                var lead = cell.name.isEmpty ? "" : cell.name + ": "
                var leadTokens = lead.isEmpty ? 0 : count(lead)
                if budget - prefixTokens - leadTokens < minimum {
                    lead = ""
                    leadTokens = 0
                }
                let keepPrefix = budget - prefixTokens - leadTokens >= minimum
                let base = keepPrefix ? prefixTokens : 0
                for piece in splitText(cell.value[...], budget: budget - base - leadTokens) {
                    if !keepPrefix { current = [] }
                    current.append(lead + piece.text)
                    currentTokens = base + leadTokens + piece.tokens
                    hasCell = true
                    flush()
                }
                continue
            }
            if currentTokens + tokens > budget { flush() }
            current.append(text)
            currentTokens += tokens
            hasCell = true
        }
        flush()
        return parts
    }

    private func measure(_ lines: inout [Line]) {
        for i in lines.indices where lines[i].tokens == 0 && !lines[i].text.isEmpty {
            lines[i].tokens = count(lines[i].text)
        }
    }

    private func makePart(_ path: Int, _ lines: [Line]) -> Part {
        var items: [DoclingRef] = []
        var pages: [Int] = []
        var tokens = 0
        var text = ""
        for (i, line) in lines.enumerated() {
            if i > 0 { text += "\n" }
            text += line.text
            tokens += line.tokens
            for item in line.items where items.last != item && !items.contains(item) { items.append(item) }
            for page in line.pages where !pages.contains(page) { pages.append(page) }
        }
        return Part(headingPath: path, text: text, tokens: tokens, items: items, pages: pages)
    }

    // MARK: - Text splitting

    struct Piece {
        var text: Substring
        var tokens: Int
    }

    private enum Level { case sentences, words, characters }

    /// Splits text into pieces of at most `budget` tokens: at sentence ends and line breaks,
    /// then between words, then (a single giant "word") by characters.
    func splitText(_ text: Substring, budget: Int) -> [Piece] {
        split(text, budget: max(1, budget), level: .sentences)
    }

    private func split(_ text: Substring, budget: Int, level: Level) -> [Piece] {
        if level == .characters { return splitCharacters(text, budget: budget) }
        let units = level == .sentences ? Self.sentenceRanges(text) : Self.wordRanges(text)
        var pieces: [Piece] = []
        var start: String.Index?
        var end = text.startIndex
        var tokens = 0
        func flush() {
            if let s = start { pieces.append(Piece(text: text[s..<end], tokens: tokens)) }
            start = nil
            tokens = 0
        }
        for unit in units {
            let t = count(text[unit])
            if t > budget {
                flush()
                let sub = split(text[unit], budget: budget, level: level == .sentences ? .words : .characters)
                pieces += sub.dropLast()
                if let last = sub.last {
                    start = last.text.startIndex
                    end = last.text.endIndex
                    tokens = last.tokens
                }
                continue
            }
            if start != nil, tokens + t > budget { flush() }
            if start == nil { start = unit.lowerBound }
            end = unit.upperBound
            tokens += t
        }
        flush()
        return pieces
    }

    /// Longest prefixes that fit, found by binary search over characters. The window is capped
    /// (a token rarely spans more than `maxCharactersPerToken` characters) so a huge blob costs
    /// O(n log n) tokenizer work rather than O(n²).
    private func splitCharacters(_ text: Substring, budget: Int) -> [Piece] {
        var pieces: [Piece] = []
        var rest = text
        while !rest.isEmpty {
            let window = Array(rest.indices.prefix(budget * Self.maxCharactersPerToken + 1))
            var lo = 1
            var hi = window.count
            var best = Piece(text: rest[rest.startIndex..<(window.count > 1 ? window[1] : rest.endIndex)], tokens: count(rest.prefix(1)))
            while lo <= hi {
                let mid = (lo + hi) / 2
                let end = mid < window.count ? window[mid] : rest.endIndex
                let candidate = rest[rest.startIndex..<end]
                let t = count(candidate)
                if t <= budget {
                    best = Piece(text: candidate, tokens: t)
                    lo = mid + 1
                } else {
                    hi = mid - 1
                }
            }
            pieces.append(best)
            rest = rest[best.text.endIndex...]
        }
        return pieces
    }

    /// Upper bound on characters one token covers, for the character-split search window.
    static let maxCharactersPerToken = 24

    /// Sentence ranges, trimmed: a break after . ! ? (and closing quotes or brackets) followed by
    /// whitespace, and at every line break.
    static func sentenceRanges(_ text: Substring) -> [Range<String.Index>] {
        var ranges: [Range<String.Index>] = []
        var start: String.Index?
        var i = text.startIndex
        var afterTerminator = false
        while i < text.endIndex {
            let c = text[i]
            if c.isNewline {
                if let s = start { ranges.append(s..<trimEnd(text, s, i)) }
                start = nil
                afterTerminator = false
            } else if c.isWhitespace {
                if afterTerminator, let s = start {
                    ranges.append(s..<trimEnd(text, s, i))
                    start = nil
                }
                afterTerminator = false
            } else {
                if start == nil { start = i }
                if terminators.contains(c) { afterTerminator = true }
                else if !closers.contains(c) { afterTerminator = false }
            }
            i = text.index(after: i)
        }
        if let s = start { ranges.append(s..<trimEnd(text, s, text.endIndex)) }
        return ranges
    }

    private static func trimEnd(_ text: Substring, _ start: String.Index, _ end: String.Index) -> String.Index {
        var e = end
        while e > start {
            let p = text.index(before: e)
            guard text[p].isWhitespace else { break }
            e = p
        }
        return e
    }

    private static let terminators: Set<Character> = [".", "!", "?", "…", "。", "！", "？"]
    private static let closers: Set<Character> = ["\"", "'", ")", "]", "”", "’", "»"]

    /// Whitespace-separated word ranges.
    static func wordRanges(_ text: Substring) -> [Range<String.Index>] {
        var ranges: [Range<String.Index>] = []
        var start: String.Index?
        var i = text.startIndex
        while i < text.endIndex {
            if text[i].isWhitespace {
                if let s = start { ranges.append(s..<i) }
                start = nil
            } else if start == nil {
                start = i
            }
            i = text.index(after: i)
        }
        if let s = start { ranges.append(s..<text.endIndex) }
        return ranges
    }
}
