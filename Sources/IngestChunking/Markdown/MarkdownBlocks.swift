/// The Markdown/plain-text front end: turns text into the same blocks as a DoclingDocument, so
/// text inputs get the same guarantees. ATX (`#`) and setext headings feed the heading stack;
/// fenced code, tables (header repeated when split) and lists stay together where they fit.
/// Headings get the same treatment as in a DoclingDocument (`HeadingStack`): permalink markers
/// stripped, and a heading with nothing under it kept as a line of what follows.
/// Chunks from text have no `doc_items` and no pages.
struct MarkdownBlocks {
    private(set) var blocks: [Block] = []
    private var headings = HeadingStack()
    var paths: HeadingPaths { headings.paths }
    private var pathIndex: Int { headings.pathIndex }

    mutating func parse(_ text: String) {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map { line -> Substring in
            line.last == "\r" ? line.dropLast() : line
        }
        var i = 0
        // YAML front matter is metadata, not content.
        if lines.first.map(Self.trim) == "---",
           let end = lines.dropFirst().prefix(200).firstIndex(where: { Self.trim($0) == "---" }) {
            i = end + 1
        }
        if lines.isEmpty { lines = [] }
        while i < lines.count {
            let line = lines[i]
            let trimmed = Self.trim(line)
            if trimmed.isEmpty { i += 1; continue }

            if let fence = Self.fence(trimmed) {
                i = parseFence(lines, from: i, fence: fence)
            } else if let heading = Self.atxHeading(trimmed) {
                pushHeading(level: heading.level, text: heading.text)
                i += 1
            } else if trimmed.hasPrefix("<!--") {
                // HTML comments (Docling's `<!-- image -->` placeholders) carry no content.
                while i < lines.count, !lines[i].contains("-->") { i += 1 }
                i += 1
            } else if Self.isTableStart(lines, i) {
                i = parseTable(lines, from: i)
            } else if Self.listMarker(line) != nil {
                i = parseList(lines, from: i)
            } else if Self.isThematicBreak(trimmed) {
                i += 1
            } else {
                i = parseParagraph(lines, from: i)
            }
        }
        headings.finish()
        flushPendingHeadings()
    }

    // MARK: - Blocks

    private mutating func pushHeading(level: Int, text: String) {
        headings.push(level: level, text: text)
    }

    /// Headings that had nothing under them go first, as lines under the current path.
    private mutating func flushPendingHeadings() {
        let pending = headings.contentFollows()
        if !pending.isEmpty { blocks.append(Block(headingPath: pathIndex, lines: pending, kind: .text)) }
    }

    private mutating func emit(_ lines: [Line], head: [Line] = [], tail: [Line] = [], kind: Block.Kind) {
        let lines = lines.filter { !Self.trim($0.text[...]).isEmpty }
        guard !lines.isEmpty else { return }
        flushPendingHeadings()
        blocks.append(Block(headingPath: pathIndex, head: head, lines: lines, tail: tail, kind: kind))
    }

    private mutating func parseFence(_ lines: [Substring], from start: Int, fence: (char: Character, count: Int)) -> Int {
        var i = start + 1
        var body: [Line] = []
        var closing = String(repeating: fence.char, count: fence.count)
        while i < lines.count {
            let t = Self.trim(lines[i])
            if t.first == fence.char, t.allSatisfy({ $0 == fence.char }), t.count >= fence.count {
                closing = String(t)
                i += 1
                break
            }
            if !t.isEmpty { body.append(Line(text: String(lines[i]))) }
            i += 1
        }
        emit(body, head: [Line(text: String(Self.trim(lines[start])))], tail: [Line(text: closing)], kind: .code)
        return i
    }

    private mutating func parseTable(_ lines: [Substring], from start: Int) -> Int {
        var i = start
        var rows: [Substring] = []
        while i < lines.count, lines[i].contains("|"), !Self.trim(lines[i]).isEmpty {
            rows.append(Self.trim(lines[i]))
            i += 1
        }
        var head: [Line] = []
        var names: [String] = []
        if rows.count >= 2, Self.isSeparatorRow(rows[1]) {
            names = Self.cells(rows[0])
            head = [Line(text: String(rows[0])), Line(text: String(rows[1]))]
            rows.removeFirst(2)
        }
        let body = rows.map { row -> Line in
            let values = Self.cells(row)
            func name(_ c: Int) -> String { c < names.count ? names[c] : "" }
            let label = values.first.flatMap { $0.isEmpty ? nil : (name: name(0), value: $0) }
            let others = values.indices.dropFirst().filter { !values[$0].isEmpty }.map { (name: name($0), value: values[$0]) }
            return Line(text: String(row), cells: TableRowCells(label: label, cells: others))
        }
        if body.isEmpty { emit(head, kind: .text) } else { emit(body, head: head, kind: .table) }
        return i
    }

    /// A list, its items' continuation lines kept with them. A heading inside the list (an item
    /// that is a heading, "- ## Setup", or an indented heading line) is a heading: the items so
    /// far are emitted under the old path and the list goes on under the new one. Lines inside a
    /// fenced block in an item are never headings (a shell comment is not).
    private mutating func parseList(_ lines: [Substring], from start: Int) -> Int {
        var i = start
        var items: [Line] = []
        var fence: (char: Character, count: Int)?
        while i < lines.count {
            let line = lines[i]
            let t = Self.trim(line)
            // Inside an item's fenced block, up to its closing fence or the item's end (a line
            // back at the margin).
            if let open = fence, let last = items.indices.last, t.isEmpty || line.first?.isWhitespace == true {
                if !t.isEmpty { items[last].text += "\n" + String(Self.trimEnd(line)) }
                if t.first == open.char, t.allSatisfy({ $0 == open.char }), t.count >= open.count { fence = nil }
                i += 1
                continue
            }
            fence = nil
            if t.isEmpty {
                // A blank line ends the list unless an item or an indented continuation follows.
                var j = i + 1
                while j < lines.count, Self.trim(lines[j]).isEmpty { j += 1 }
                guard j < lines.count, Self.listMarker(lines[j]) != nil || lines[j].first?.isWhitespace == true else { break }
                i = j
                continue
            }
            if let marker = Self.listMarker(line) {
                let content = Self.trim(line[marker.endIndex...])
                if let heading = Self.atxHeading(content) {
                    emit(items, kind: .list)
                    items = []
                    pushHeading(level: heading.level, text: heading.text)
                    i += 1
                    continue
                }
                items.append(Line(text: String(Self.trimEnd(line))))
                fence = Self.fence(content)
            } else if Self.atxHeading(t) != nil {
                break  // the main loop pushes it; indented or not, it ends the list
            } else if line.first?.isWhitespace == true || !Self.startsBlock(t, lines, i), let last = items.indices.last {
                items[last].text += "\n" + String(Self.trimEnd(line))
                fence = Self.fence(t)
            } else {
                break
            }
            i += 1
        }
        emit(items, kind: .list)
        return i
    }

    private mutating func parseParagraph(_ lines: [Substring], from start: Int) -> Int {
        var i = start
        var text: [Substring] = []
        while i < lines.count {
            let t = Self.trim(lines[i])
            if t.isEmpty { break }
            if !text.isEmpty {
                // Setext heading: the paragraph so far is the heading text.
                if t.allSatisfy({ $0 == "=" }) || (t.allSatisfy({ $0 == "-" }) && t.count >= 2) {
                    pushHeading(level: t.first == "=" ? 1 : 2, text: text.joined(separator: " "))
                    return i + 1
                }
                if Self.startsBlock(t, lines, i) { break }
            }
            text.append(t)
            i += 1
        }
        emit([Line(text: text.joined(separator: "\n"))], kind: .text)
        return i
    }

    // MARK: - Line classification

    private static func startsBlock(_ trimmed: Substring, _ lines: [Substring], _ i: Int) -> Bool {
        fence(trimmed) != nil || atxHeading(trimmed) != nil || listMarker(lines[i]) != nil || isTableStart(lines, i)
            || trimmed.hasPrefix("<!--")
    }

    private static func trim(_ s: Substring) -> Substring {
        var s = s
        while let f = s.first, f.isWhitespace { s.removeFirst() }
        return trimEnd(s)
    }

    private static func trimEnd(_ s: Substring) -> Substring {
        var s = s
        while let l = s.last, l.isWhitespace { s.removeLast() }
        return s
    }

    private static func fence(_ trimmed: Substring) -> (char: Character, count: Int)? {
        guard let c = trimmed.first, c == "`" || c == "~" else { return nil }
        let n = trimmed.prefix { $0 == c }.count
        return n >= 3 ? (c, n) : nil
    }

    private static func atxHeading(_ trimmed: Substring) -> (level: Int, text: String)? {
        let hashes = trimmed.prefix { $0 == "#" }.count
        guard (1...6).contains(hashes) else { return nil }
        let rest = trimmed.dropFirst(hashes)
        guard rest.isEmpty || rest.first?.isWhitespace == true else { return nil }
        var text = trim(rest)
        // Optional closing hashes.
        let closing = text.reversed().prefix { $0 == "#" }.count
        if closing > 0, closing == text.count || text.dropLast(closing).last?.isWhitespace == true {
            text = trim(text.dropLast(closing))
        }
        return (hashes, String(text))
    }

    /// "- ", "* ", "+ ", "1. ", "1) " at the start of a line (after indentation).
    private static func listMarker(_ line: Substring) -> Substring? {
        let t = line.drop { $0 == " " || $0 == "\t" }
        guard let first = t.first else { return nil }
        if first == "-" || first == "*" || first == "+" {
            let after = t.dropFirst()
            guard after.first == " " || after.first == "\t" else { return nil }
            // "- - -" / "* * *" is a thematic break, not a list.
            if isThematicBreak(trim(t)) { return nil }
            return t.prefix(1)
        }
        let digits = t.prefix { $0.isASCII && $0.isNumber }
        guard (1...9).contains(digits.count) else { return nil }
        let after = t.dropFirst(digits.count)
        guard let p = after.first, p == "." || p == ")" else { return nil }
        let space = after.dropFirst().first
        guard space == " " || space == "\t" else { return nil }
        return t.prefix(digits.count + 1)
    }

    private static func isThematicBreak(_ trimmed: Substring) -> Bool {
        let chars = trimmed.filter { !$0.isWhitespace }
        guard chars.count >= 3, let c = chars.first, c == "-" || c == "*" || c == "_" else { return false }
        return chars.allSatisfy { $0 == c }
    }

    private static func isTableStart(_ lines: [Substring], _ i: Int) -> Bool {
        let t = trim(lines[i])
        guard t.contains("|") else { return false }
        if i + 1 < lines.count, isSeparatorRow(trim(lines[i + 1])) { return true }
        return t.first == "|" && t.last == "|" && t.count >= 2
    }

    private static func isSeparatorRow(_ trimmed: Substring) -> Bool {
        guard trimmed.contains("-") else { return false }
        return trimmed.allSatisfy { $0 == "|" || $0 == "-" || $0 == ":" || $0 == " " || $0 == "\t" }
    }

    /// A table row's cells, with escaped pipes kept inside their cell.
    private static func cells(_ row: Substring) -> [String] {
        var r = trim(row)
        if r.first == "|" { r = r.dropFirst() }
        if r.last == "|", !r.hasSuffix("\\|") { r = r.dropLast() }
        var cells: [String] = []
        var current = ""
        var escaped = false
        for c in r {
            if c == "|", !escaped {
                cells.append(String(trim(current[...])))
                current = ""
            } else {
                current.append(c)
            }
            escaped = c == "\\"
        }
        cells.append(String(trim(current[...])))
        return cells
    }
}
