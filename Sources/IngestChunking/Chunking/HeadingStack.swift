/// The heading stack both front ends keep while they emit blocks: the heading path that applies
/// to the next block, and the text of headings that had nothing under them.
///
/// A heading popped before any block was emitted under it (three author names in a row, an empty
/// section, a slide with only a title) would otherwise appear in no stored chunk. Its text is
/// kept as a line and handed to the front end before the next block, which emits it under that
/// block's path, so the packer merges it into the chunk that follows when they fit, and the
/// path of the content stays the one that applies to it.
struct HeadingStack {
    /// A saved stack, restored when a slide, sheet or chapter ends.
    struct Scope {
        fileprivate var entries: [Entry]
    }

    fileprivate struct Entry {
        var id: Int
        var level: Int
        var line: Line
    }

    private var entries: [Entry] = []
    /// Ids of headings whose text already reached a block (in a heading path or as a line).
    private var stored: Set<Int> = []
    private var nextID = 0
    /// Headings popped with nothing under them, in reading order, waiting for the next block.
    private var pending: [Line] = []
    private(set) var paths = HeadingPaths()
    /// Index in `paths` of the path that applies to the next block.
    private(set) var pathIndex = 0

    /// Pushes a heading at `level` (0 for a title), popping headings at the same level or deeper.
    /// Text is cleaned first (`HeadingText.cleaned`); a heading left empty is ignored.
    /// `keptWhenEmpty: false` is for names that are not document text (a sheet's name): they
    /// head content but never become a line of their own.
    mutating func push(level: Int, text: String, items: [DoclingRef] = [], pages: [Int] = [], keptWhenEmpty: Bool = true) {
        let text = HeadingText.cleaned(text)
        guard !text.isEmpty else { return }
        var keep = entries.count
        while keep > 0, entries[keep - 1].level >= level { keep -= 1 }
        pop(to: keep)
        entries.append(Entry(id: nextID, level: level, line: Line(text: text, items: items, pages: pages)))
        if !keptWhenEmpty { stored.insert(nextID) }
        nextID += 1
        updatePath()
    }

    /// Call before emitting a block under `pathIndex`: every heading on the stack now has content.
    /// Returns the lines of headings that had none, to be emitted first under the same path.
    mutating func contentFollows() -> [Line] {
        for entry in entries { stored.insert(entry.id) }
        defer { pending = [] }
        return pending
    }

    /// The stack as it is now, to restore when a scope ends.
    var scope: Scope { Scope(entries: entries) }

    /// Ends a scope: headings pushed inside it that got no content become pending lines.
    mutating func restore(_ scope: Scope) {
        var common = 0
        while common < min(entries.count, scope.entries.count), entries[common].id == scope.entries[common].id { common += 1 }
        pop(to: common)
        entries = scope.entries
        updatePath()
    }

    /// Ends the document: headings with no content after them become pending lines, and the
    /// path falls back to the deepest heading that had content.
    mutating func finish() {
        var keep = entries.count
        while keep > 0, !stored.contains(entries[keep - 1].id) { keep -= 1 }
        pop(to: keep)
        updatePath()
    }

    /// Pops down to `count` entries; those never stored become pending in reading order
    /// (outer heading first).
    private mutating func pop(to count: Int) {
        guard count < entries.count else { return }
        for entry in entries[count...] where stored.insert(entry.id).inserted { pending.append(entry.line) }
        entries.removeSubrange(count...)
    }

    private mutating func updatePath() {
        pathIndex = paths.intern(entries.map(\.line.text))
    }
}

/// Heading text as it is stored and embedded, the same for both front ends.
package enum HeadingText {
    /// Heading text as it is stored and embedded: on one line, without the permalink marker a
    /// documentation generator appends to every heading ("DNS #" from Node.js, "Usage¶" from
    /// Sphinx). Strips, from the end only: `#` after whitespace (so "C#" and "F#" stay), and `¶`,
    /// `§`, `🔗` or `⚓` with or without whitespace before them. Nothing else.
    package static func cleaned(_ text: String) -> String {
        var text = DocumentWalker.normalizedInline(text)
        while let stripped = strippingPermalink(text) { text = stripped }
        return text
    }

    private static func strippingPermalink(_ text: String) -> String? {
        // Fast path: every marker ends in "#" or a non-ASCII byte.
        guard let lastByte = text.utf8.last, lastByte >= 0x80 || lastByte == UInt8(ascii: "#") else { return nil }
        var scalars = Array(text.unicodeScalars)
        // An emoji presentation selector may follow the marker ("⚓️").
        if let last = scalars.last, last == "\u{FE0F}" || last == "\u{FE0E}" { scalars.removeLast() }
        guard let last = scalars.last else { return nil }
        if permalinkMarkers.contains(last) {
            scalars.removeLast()
        } else if last == "#", scalars.count >= 2, scalars[scalars.count - 2].properties.isWhitespace {
            scalars.removeLast()
        } else {
            return nil
        }
        while let l = scalars.last, l.properties.isWhitespace { scalars.removeLast() }
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// Pilcrow, section sign, link and anchor emoji.
    private static let permalinkMarkers: Set<Unicode.Scalar> = ["\u{00B6}", "\u{00A7}", "\u{1F517}", "\u{2693}"]
}
