import Foundation

/// Serializes a table as a Markdown table: one header line (multi-row headers folded into one
/// name per column, e.g. "2026 H1"), a separator, one line per body row.
///
/// Why Markdown rather than Docling's default "row, column = value" triplets: the stored `text`
/// is shown to people and handed to LLMs, which read Markdown tables natively; column names are
/// written once per part instead of once per cell, so more rows fit in a 256-token window; and
/// splitting by rows with the header repeated keeps every part a valid, self-describing table
/// (the row label stays, as the first cell of its row). A row too wide for one chunk falls back
/// to "column: value" cells (see `TableRowCells`).
enum TableSerializer {
    struct Row {
        var markdown: String
        var cells: TableRowCells
    }

    struct Rendered {
        /// The header line and the separator line.
        var header: [String]
        var rows: [Row]
    }

    /// Largest grid we lay out; beyond it the table is malformed or adversarial (cells are
    /// still rendered, but only within this many slots).
    static let maxGridSlots = 4_000_000

    /// Nil when the table has no cells with text.
    static func render(_ data: DoclingDocument.TableData) -> Rendered? {
        let cells = data.cells
        guard !cells.isEmpty else { return nil }
        var numRows = data.numRows
        var numCols = data.numCols
        for cell in cells {
            numRows = max(numRows, cell.endRow)
            numCols = max(numCols, cell.endCol)
        }
        guard numRows > 0, numCols > 0, numRows * numCols <= maxGridSlots else { return nil }

        // grid[r][c] = index of the cell covering that slot (-1 when none).
        var grid = [[Int]](repeating: [Int](repeating: -1, count: numCols), count: numRows)
        for (index, cell) in cells.enumerated() {
            let rows = max(0, cell.startRow)..<max(max(0, cell.startRow), min(cell.endRow, numRows))
            let cols = max(0, cell.startCol)..<max(max(0, cell.startCol), min(cell.endCol, numCols))
            for r in rows { for c in cols { grid[r][c] = index } }
        }
        let texts = cells.map { DocumentWalker.normalizedInline($0.text) }

        // Header rows: the leading rows whose non-empty cells are all column headers (an empty
        // top-left <td> does not disqualify a row of <th>). Backends that set no flag still put
        // the header first, as Docling's own serializers assume.
        var headerRows = 0
        while headerRows < numRows {
            let slots = grid[headerRows].filter { $0 >= 0 && !texts[$0].isEmpty }
            guard !slots.isEmpty, slots.allSatisfy({ cells[$0].columnHeader }) else { break }
            headerRows += 1
        }
        let anyFlag = cells.contains { $0.columnHeader }
        if headerRows == 0, !anyFlag, numRows >= 2 { headerRows = 1 }
        if headerRows == numRows, numRows > 1 { headerRows = numRows - 1 }

        var names = [String](repeating: "", count: numCols)
        for c in 0..<numCols {
            var parts: [String] = []
            var last = -1
            for r in 0..<headerRows {
                let index = grid[r][c]
                guard index >= 0, index != last else { continue }
                last = index
                if !texts[index].isEmpty, parts.last != texts[index] { parts.append(texts[index]) }
            }
            names[c] = parts.joined(separator: " ")
        }

        // Row labels: the row-header columns when flagged, else the first column.
        let labelCols = (0..<numCols).filter { c in
            (headerRows..<numRows).contains { r in grid[r][c] >= 0 && cells[grid[r][c]].rowHeader }
        }
        let labelCol = labelCols.first ?? 0

        var rows: [Row] = []
        for r in headerRows..<numRows {
            var values = [String](repeating: "", count: numCols)
            var any = false
            for c in 0..<numCols {
                let index = grid[r][c]
                // A column span shows its text once; a row span repeats in each row it covers so
                // that every row stays self-contained when the table is split.
                guard index >= 0, c == 0 || grid[r][c - 1] != index else { continue }
                values[c] = texts[index]
                if !values[c].isEmpty { any = true }
            }
            guard any else { continue }
            let label = values[labelCol].isEmpty ? nil : (name: names[labelCol], value: values[labelCol])
            let others = (0..<numCols).filter { $0 != labelCol && !values[$0].isEmpty }.map { (name: names[$0], value: values[$0]) }
            rows.append(Row(markdown: markdownRow(values), cells: TableRowCells(label: label, cells: others)))
        }

        let header = markdownRow(names)
        // One hyphen per cell is a valid GFM delimiter row and costs half the tokens of "---"
        // (BERT splits every hyphen), in every part of a split table.
        let separator = "|" + String(repeating: " - |", count: numCols)
        return Rendered(header: [header, separator], rows: rows)
    }

    private static func markdownRow(_ values: [String]) -> String {
        var line = "|"
        for value in values {
            line += " "
            line += value.contains("|") ? value.replacingOccurrences(of: "|", with: "\\|") : value
            line += " |"
        }
        return line
    }
}
