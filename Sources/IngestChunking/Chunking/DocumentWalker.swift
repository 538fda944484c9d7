/// Turns a DoclingDocument into blocks: walks `#/body` depth-first in reading order, keeps a
/// heading stack from heading levels (never from tree nesting, which differs per format), skips
/// every non-body layer and page headers/footers, and emits captions and footnotes with the
/// table or picture that owns them. A `title` or `section_header` is a heading wherever Docling
/// hangs it, inside a list group too (DOCX does that after a bullet).
struct DocumentWalker {
    private let document: DoclingDocument
    /// Captions and footnotes linked from a table or picture: emitted with their owner, skipped
    /// where they also sit in the tree.
    private let owned: Set<DoclingRef>
    private var headings = HeadingStack()
    private(set) var blocks: [Block] = []
    var paths: HeadingPaths { headings.paths }
    private var pathIndex: Int { headings.pathIndex }
    /// Guards against `$ref` cycles in malformed input.
    private var visited: Set<DoclingRef> = []
    /// Current depth of the tree walk.
    private var depth = 0

    /// Deepest tree level walked. Real documents nest a few levels; a chain of `$ref`s in
    /// malformed input must not exhaust the stack (deeper items are left out).
    static let maxDepth = 256

    init(document: DoclingDocument) {
        self.document = document
        var owned = Set<DoclingRef>()
        for table in document.tables {
            owned.formUnion(table.captions)
            owned.formUnion(table.footnotes)
        }
        for picture in document.pictures {
            owned.formUnion(picture.captions)
            owned.formUnion(picture.footnotes)
        }
        self.owned = owned
    }

    /// Walks the whole body.
    mutating func run() {
        guard document.body.isBody else { return }
        walk(document.body.children)
        headings.finish()
        flushPendingHeadings()
    }

    // MARK: - Tree walk

    private mutating func walk(_ refs: [DoclingRef]) {
        for ref in refs { visit(ref) }
    }

    private mutating func visit(_ ref: DoclingRef) {
        guard depth < Self.maxDepth, visited.insert(ref).inserted else { return }
        depth += 1
        defer { depth -= 1 }
        switch ref {
        case .text(let i):
            guard let item = document.texts[safe: i], item.isBody else { return }
            visitText(item, ref: ref)
        case .table(let i):
            guard let table = document.tables[safe: i], table.isBody else { return }
            emitTable(table, ref: ref)
        case .picture(let i):
            guard let picture = document.pictures[safe: i], picture.isBody else { return }
            emitPicture(picture, ref: ref)
            walk(picture.children)
        case .group(let i):
            guard let group = document.groups[safe: i], group.isBody else { return }
            visitGroup(group, ref: ref)
        case .body, .furniture, .other:
            return
        }
    }

    private mutating func visitText(_ item: DoclingDocument.TextItem, ref: DoclingRef) {
        switch item.label {
        case .title:
            headings.push(level: 0, text: item.text, items: [ref], pages: item.pages)
        case .sectionHeader:
            headings.push(level: max(1, item.level ?? 1), text: item.text, items: [ref], pages: item.pages)
        case .pageHeader, .pageFooter:
            return  // furniture even when Docling left it in the body layer
        case .listItem:
            var lines: [Line] = []
            var deferred: [DoclingRef] = []
            appendListItem(item, ref: ref, depth: 0, number: 1, to: &lines, deferred: &deferred)
            emit(lines, kind: .list)
            walk(deferred)
            return
        case .code:
            emitCode(item, ref: ref)
        case .caption, .footnote:
            if !owned.contains(ref) { emitText(item.text, ref: ref, pages: item.pages) }
        case .checkboxSelected:
            emitText(item.text.isEmpty ? "" : "[x] " + item.text, ref: ref, pages: item.pages)
        case .checkboxUnselected:
            emitText(item.text.isEmpty ? "" : "[ ] " + item.text, ref: ref, pages: item.pages)
        default:
            emitText(item.text, ref: ref, pages: item.pages)
        }
        // HTML and DOCX hang a section's content under its heading; other items may have children too.
        walk(item.children)
    }

    private mutating func visitGroup(_ group: DoclingDocument.Group, ref: DoclingRef) {
        switch group.label {
        case "list", "ordered_list":
            var lines: [Line] = []
            var deferred: [DoclingRef] = []
            appendList(group, depth: 0, to: &lines, deferred: &deferred)
            emit(lines, kind: .list)
            walk(deferred)
        case "inline":
            var refs: [DoclingRef] = []
            var pages: [Int] = []
            let text = inlineText(group, refs: &refs, pages: &pages)
            if !text.isEmpty { emit([Line(text: text, items: refs, pages: pages)], kind: .text) }
        case "chapter", "slide", "sheet":
            // A slide or sheet scopes its headings: a slide without a title must not inherit the
            // previous slide's. A sheet's name is its heading (XLSX has no other).
            let saved = headings.scope
            if group.label == "sheet", !group.name.isEmpty { headings.push(level: 0, text: group.name, items: [ref], keptWhenEmpty: false) }
            walk(group.children)
            headings.restore(saved)
            flushPendingHeadings()
        default:
            walk(group.children)
        }
    }

    // MARK: - Blocks

    /// Every block goes through here, so headings that had nothing under them are emitted first.
    private mutating func append(_ block: Block) {
        flushPendingHeadings()
        blocks.append(block)
    }

    /// Emits the text of headings popped with no content of their own as lines under the current
    /// path: the packer merges them into the chunk that follows when they fit.
    private mutating func flushPendingHeadings() {
        let pending = headings.contentFollows()
        if !pending.isEmpty { blocks.append(Block(headingPath: pathIndex, lines: pending, kind: .text)) }
    }

    private mutating func emit(_ lines: [Line], head: [Line] = [], tail: [Line] = [], kind: Block.Kind) {
        guard lines.contains(where: { !$0.text.isEmpty }) else { return }
        append(Block(headingPath: pathIndex, head: head, lines: lines.filter { !$0.text.isEmpty }, tail: tail, kind: kind))
    }

    private mutating func emitText(_ text: String, ref: DoclingRef, pages: [Int]) {
        let text = Self.trimmed(text)
        guard !text.isEmpty else { return }
        emit([Line(text: text, items: [ref], pages: pages)], kind: .text)
    }

    private mutating func emitCode(_ item: DoclingDocument.TextItem, ref: DoclingRef) {
        let code = Self.trimmedLines(item.text)
        guard !code.isEmpty else { return }
        let fence = Line(text: "```" + (item.codeLanguage.map { $0 == "unknown" ? "" : $0 } ?? ""), items: [ref], pages: item.pages)
        let lines = code.split(separator: "\n", omittingEmptySubsequences: false).map {
            Line(text: String($0), items: [ref], pages: item.pages)
        }
        // Blank lines inside code carry no meaning for search and could make a part look empty.
        append(Block(headingPath: pathIndex, head: [fence], lines: lines.filter { !$0.text.allSatisfy(\.isWhitespace) },
                            tail: [Line(text: "```", items: [ref], pages: item.pages)], kind: .code))
    }

    private mutating func emitTable(_ table: DoclingDocument.TableItem, ref: DoclingRef) {
        let captions = captionLines(table.captions)
        let rendered = TableSerializer.render(table.data)
        var head = captions
        var lines: [Line] = []
        if let rendered {
            head += rendered.header.map { Line(text: $0, items: [ref], pages: table.pages) }
            lines = rendered.rows.map { Line(text: $0.markdown, items: [ref], pages: table.pages, cells: $0.cells) }
        }
        lines += captionLines(table.footnotes)
        if lines.isEmpty {
            // A table with no body rows: its header (and caption) is the content.
            emit(head, kind: .text)
        } else {
            emit(lines, head: head, kind: .table)
        }
    }

    private mutating func emitPicture(_ picture: DoclingDocument.PictureItem, ref: DoclingRef) {
        var lines = captionLines(picture.captions)
        if let description = picture.description.map(Self.trimmed), !description.isEmpty {
            lines.append(Line(text: description, items: [ref], pages: picture.pages))
        }
        lines += captionLines(picture.footnotes)
        guard !lines.isEmpty else { return }
        // The picture itself is part of the chunk's provenance, next to its caption.
        lines[0].items.append(ref)
        emit(lines, kind: .text)
    }

    private func captionLines(_ refs: [DoclingRef]) -> [Line] {
        refs.compactMap { ref in
            guard case .text(let i) = ref, let item = document.texts[safe: i], item.isBody else { return nil }
            let text = Self.trimmed(item.text)
            return text.isEmpty ? nil : Line(text: text, items: [ref], pages: item.pages)
        }
    }

    // MARK: - Lists

    /// Appends a list's items as lines ("- item", "1. item"), nested lists indented two spaces
    /// per level. Tables, pictures and code found inside an item are walked after the list.
    private mutating func appendList(_ group: DoclingDocument.Group, depth: Int, to lines: inout [Line], deferred: inout [DoclingRef]) {
        guard self.depth < Self.maxDepth else { return }
        self.depth += 1
        defer { self.depth -= 1 }
        var number = 1
        for child in group.children {
            guard visited.insert(child).inserted else { continue }
            switch child {
            case .text(let i):
                guard let item = document.texts[safe: i], item.isBody else { continue }
                if item.label == .listItem {
                    appendListItem(item, ref: child, depth: depth, number: number, to: &lines, deferred: &deferred)
                    number += 1
                } else if item.label.isHeading {
                    breakList(at: child, lines: &lines, deferred: &deferred)
                } else {
                    let text = Self.trimmed(item.text)
                    if !text.isEmpty { lines.append(Line(text: Self.indent(depth) + text, items: [child], pages: item.pages)) }
                    appendItemChildren(item.children, depth: depth + 1, to: &lines, deferred: &deferred)
                }
            case .group(let i):
                guard let nested = document.groups[safe: i], nested.isBody else { continue }
                if nested.label == "inline" {
                    var refs: [DoclingRef] = []
                    var pages: [Int] = []
                    let text = inlineText(nested, refs: &refs, pages: &pages)
                    if !text.isEmpty { lines.append(Line(text: Self.indent(depth) + "- " + text, items: refs, pages: pages)) }
                } else {
                    appendList(nested, depth: nested.label == "list" || nested.label == "ordered_list" ? depth + 1 : depth,
                               to: &lines, deferred: &deferred)
                }
            default:
                visited.remove(child)
                deferred.append(child)
            }
        }
    }

    /// A heading inside a list: the list so far (and what it deferred) is emitted under the old
    /// path, the heading is visited like any other (its children too), and the rest of the list
    /// continues under the new path.
    private mutating func breakList(at ref: DoclingRef, lines: inout [Line], deferred: inout [DoclingRef]) {
        emit(lines, kind: .list)
        lines.removeAll()
        walk(deferred)
        deferred.removeAll()
        visited.remove(ref)
        visit(ref)
    }

    private mutating func appendListItem(_ item: DoclingDocument.TextItem, ref: DoclingRef, depth: Int, number: Int,
                                         to lines: inout [Line], deferred: inout [DoclingRef]) {
        var text = Self.trimmed(item.text)
        var refs: [DoclingRef] = [ref]
        var pages = item.pages
        var rest: [DoclingRef] = []
        // Markdown puts a list item's formatted text in an `inline` child and leaves `text` empty.
        for child in item.children {
            if case .group(let i) = child, let group = document.groups[safe: i], group.isBody, group.label == "inline",
               visited.insert(child).inserted {
                let run = inlineText(group, refs: &refs, pages: &pages)
                text = text.isEmpty ? run : text + " " + run
            } else {
                rest.append(child)
            }
        }
        if !text.isEmpty {
            let marker: String
            if let m = item.marker, !m.isEmpty, m.count <= 8 { marker = m }
            else if item.enumerated == true { marker = "\(number)." }
            else { marker = "-" }
            lines.append(Line(text: Self.indent(depth) + marker + " " + text, items: refs, pages: pages))
        }
        appendItemChildren(rest, depth: depth + 1, to: &lines, deferred: &deferred)
    }

    private mutating func appendItemChildren(_ refs: [DoclingRef], depth: Int, to lines: inout [Line], deferred: inout [DoclingRef]) {
        for child in refs {
            switch child {
            case .group(let i):
                guard let group = document.groups[safe: i], group.isBody, visited.insert(child).inserted else { continue }
                appendList(group, depth: group.label == "list" || group.label == "ordered_list" ? depth : depth - 1,
                           to: &lines, deferred: &deferred)
            case .text(let i):
                guard let item = document.texts[safe: i], item.isBody, visited.insert(child).inserted else { continue }
                if item.label == .listItem {
                    appendListItem(item, ref: child, depth: depth, number: 1, to: &lines, deferred: &deferred)
                } else if item.label.isHeading {
                    breakList(at: child, lines: &lines, deferred: &deferred)
                } else if item.label == .code {
                    visited.remove(child)
                    deferred.append(child)
                } else {
                    let text = Self.trimmed(item.text)
                    if !text.isEmpty { lines.append(Line(text: Self.indent(depth) + text, items: [child], pages: item.pages)) }
                    appendItemChildren(item.children, depth: depth + 1, to: &lines, deferred: &deferred)
                }
            default:
                deferred.append(child)
            }
        }
    }

    // MARK: - Inline runs

    /// Joins an `inline` group's runs on one line: a space between runs (Docling strips them),
    /// none before closing punctuation; inline code keeps its backticks.
    private mutating func inlineText(_ group: DoclingDocument.Group, refs: inout [DoclingRef], pages: inout [Int]) -> String {
        guard depth < Self.maxDepth else { return "" }
        depth += 1
        defer { depth -= 1 }
        var out = ""
        for child in group.children {
            var piece = ""
            switch child {
            case .text(let i):
                guard let item = document.texts[safe: i], item.isBody else { continue }
                visited.insert(child)
                let t = Self.normalizedInline(item.text)
                if t.isEmpty { continue }
                piece = item.label == .code ? "`" + t + "`" : t
                refs.append(child)
                for p in item.pages where !pages.contains(p) { pages.append(p) }
            case .group(let i):
                guard let nested = document.groups[safe: i], nested.isBody, visited.insert(child).inserted else { continue }
                piece = inlineText(nested, refs: &refs, pages: &pages)
            default:
                continue
            }
            if piece.isEmpty { continue }
            if !out.isEmpty, let first = piece.first, !Self.noSpaceBefore.contains(first),
               let last = out.last, !Self.noSpaceAfter.contains(last) {
                out += " "
            }
            out += piece
        }
        return out
    }

    private static let noSpaceBefore: Set<Character> = [".", ",", ";", ":", "!", "?", ")", "]", "}", "%"]
    private static let noSpaceAfter: Set<Character> = ["(", "[", "{"]

    // MARK: - Text helpers

    private static func indent(_ depth: Int) -> String {
        String(repeating: "  ", count: max(0, depth))
    }

    /// Trims surrounding whitespace (fast path on bytes: most Docling text is already trimmed,
    /// and Character-by-Character checks were a visible share of the benchmark).
    static func trimmed(_ text: String) -> String {
        guard let firstByte = text.utf8.first, let lastByte = text.utf8.last else { return text }
        if firstByte > 0x20, firstByte < 0x80, lastByte > 0x20, lastByte < 0x80 { return text }
        guard let first = text.first, let last = text.last else { return text }
        if !first.isWhitespace, !last.isWhitespace { return text }
        return String(text.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed())
    }

    /// Trims blank lines around a code block, keeping its indentation.
    private static func trimmedLines(_ text: String) -> String {
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        while let first = lines.first, first.allSatisfy(\.isWhitespace) { lines.removeFirst() }
        while let last = lines.last, last.allSatisfy(\.isWhitespace) { lines.removeLast() }
        return lines.joined(separator: "\n")
    }

    /// Headings and inline runs live on one line: collapse newlines and runs of whitespace.
    static func normalizedInline(_ text: String) -> String {
        let t = trimmed(text)
        // Only control bytes (\t \n \r …) and the multi-byte line separators (U+0085 starts
        // with 0xC2, U+2028/U+2029 with 0xE2) can be line breaks or tabs.
        guard t.utf8.contains(where: { $0 < 0x20 || $0 == 0xC2 || $0 == 0xE2 }) else { return t }
        guard t.contains(where: { $0.isNewline || $0 == "\t" }) else { return t }
        return t.split(whereSeparator: \.isWhitespace).joined(separator: " ")
    }
}

extension Array {
    /// Bounds-checked access: a `$ref` in input data may point past the end of its array.
    subscript(safe index: Int) -> Element? {
        indices.contains(index) ? self[index] : nil
    }
}
