/// A piece of content the chunker keeps whole when it fits: a paragraph, a whole list, a table
/// with its caption, a code block. Both front ends (DoclingDocument and Markdown) produce blocks;
/// one packer sizes, splits and merges them, so both paths give the same guarantees.
struct Block: Sendable {
    /// Index of the block's heading path in `HeadingPaths`.
    var headingPath: Int
    /// Lines repeated at the top of every part when the block is split (table caption and
    /// header row, opening code fence).
    var head: [Line] = []
    /// The content, split only between lines (a table row, a list item) unless one line alone
    /// is over budget.
    var lines: [Line]
    /// Lines repeated at the bottom of every part (closing code fence).
    var tail: [Line] = []
    /// What to do when the repeated `head`/`tail` would take too much of a part.
    var kind: Kind = .text

    enum Kind: Sendable {
        case text
        case list
        /// Rows of a table: a row too long for one part is rewritten as "header: value" cells.
        case table
        /// Fenced code: when the fences cannot repeat, they stay as ordinary first/last lines.
        case code
    }
}

/// One line of a block: its text, where it came from, and (filled in by the packer) its size.
struct Line: Sendable {
    var text: String
    /// `self_ref`s of the document items this line shows.
    var items: [DoclingRef]
    var pages: [Int]
    /// For a table row: the same row as labelled cells, used when the row alone is too long.
    var cells: TableRowCells?
    /// Content tokens (without [CLS]/[SEP]); computed once by the packer.
    var tokens: Int = 0

    init(text: String, items: [DoclingRef] = [], pages: [Int] = [], cells: TableRowCells? = nil) {
        self.text = text
        self.items = items
        self.pages = pages
        self.cells = cells
    }
}

/// A table row as (column name, value) pairs, the row label first: the fallback serialization
/// of a row too wide for one chunk, which keeps the row label and column names in every part.
struct TableRowCells: Sendable {
    /// The row label's column name and value (first column, or the row-header cells).
    var label: (name: String, value: String)?
    var cells: [(name: String, value: String)]
}

/// Interns heading paths so blocks compare paths by index and each path's context is sized once.
struct HeadingPaths: Sendable {
    private(set) var paths: [[String]] = [[]]
    private var index: [[String]: Int] = [[]: 0]

    /// The index of `path`, adding it when new.
    mutating func intern(_ path: [String]) -> Int {
        if let i = index[path] { return i }
        paths.append(path)
        index[path] = paths.count - 1
        return paths.count - 1
    }
}
