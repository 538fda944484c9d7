/// Reads a DoclingDocument straight from JSON bytes with `JSONReader`, field for field the same
/// as the `Decodable` conformances (which stay the reference and the fallback: any input this
/// reader does not handle, or rejects, goes through `JSONDecoder` for a precise error).
///
/// Handles a bare document, `{"json_content": …}` and `{"document": {"json_content": …}}`.
package enum DoclingFastReader {
    /// Not an error in the input: the shape is one this reader leaves to `JSONDecoder`.
    struct Unsupported: Error {}

    package static func read(_ bytes: UnsafeBufferPointer<UInt8>) throws -> DoclingDocument {
        var reader = JSONReader(bytes)
        guard reader.peek() == UInt8(ascii: "{") else { throw Unsupported() }
        let document = try envelope(&reader, depth: 0)
        try reader.expectEnd()
        return document
    }

    private static func envelope(_ r: inout JSONReader, depth: Int) throws -> DoclingDocument {
        var found: DoclingDocument?
        var fields = DocumentFields()
        var looksLikeDocument = false
        try r.readObject { r, key in
            if key == "json_content" {
                if try r.readNull() { throw Unsupported() }
                found = try document(&r)
            } else if key == "document", depth == 0, r.peek() == UInt8(ascii: "{") {
                found = try envelope(&r, depth: 1)
            } else {
                if key == "schema_name" || key == "texts" || key == "groups" { looksLikeDocument = true }
                try fields.read(&r, key)
            }
        }
        if let found { return found }
        guard looksLikeDocument else { throw Unsupported() }
        return fields.document
    }

    private static func document(_ r: inout JSONReader) throws -> DoclingDocument {
        var fields = DocumentFields()
        try r.readObject { r, key in try fields.read(&r, key) }
        return fields.document
    }

    /// The top-level fields of a document, gathered in whatever order they come.
    private struct DocumentFields {
        var name = ""
        var origin: DoclingDocument.Origin?
        var body = DoclingDocument.Group(children: [])
        var texts: [DoclingDocument.TextItem] = []
        var tables: [DoclingDocument.TableItem] = []
        var pictures: [DoclingDocument.PictureItem] = []
        var groups: [DoclingDocument.Group] = []
        var pageCount = 0

        var document: DoclingDocument {
            DoclingDocument(name: name, origin: origin, body: body, texts: texts, tables: tables, pictures: pictures,
                            groups: groups, pageCount: pageCount)
        }

        mutating func read(_ r: inout JSONReader, _ key: JSONReader.Key) throws {
            if key == "name" {
                name = try r.readString() ?? ""
            } else if key == "origin" {
                if try r.readNull() { return }
                var o = DoclingDocument.Origin()
                try r.readObject { r, key in
                    if key == "mimetype" { o.mimetype = try r.readString() }
                    else if key == "filename" { o.filename = try r.readString() }
                    else { try r.skipValue() }
                }
                origin = o
            } else if key == "body" {
                if try r.readNull() { return }
                body = try DoclingFastReader.group(&r)
            } else if key == "texts" {
                texts = try DoclingFastReader.array(&r, DoclingFastReader.textItem)
            } else if key == "tables" {
                tables = try DoclingFastReader.array(&r, DoclingFastReader.tableItem)
            } else if key == "pictures" {
                pictures = try DoclingFastReader.array(&r, DoclingFastReader.pictureItem)
            } else if key == "groups" {
                groups = try DoclingFastReader.array(&r, DoclingFastReader.group)
            } else if key == "pages" {
                if try r.readNull() { return }
                var n = 0
                try r.readObject { r, _ in
                    n += 1
                    try r.skipValue()
                }
                pageCount = n
            } else {
                try r.skipValue()
            }
        }
    }

    private static func array<T>(_ r: inout JSONReader, _ element: (inout JSONReader) throws -> T) throws -> [T] {
        if try r.readNull() { return [] }
        var out: [T] = []
        try r.readArray { r in out.append(try element(&r)) }
        return out
    }

    private static func refs(_ r: inout JSONReader) throws -> [DoclingRef] {
        try array(&r) { r in
            var pointer: String?
            try r.readObject { r, key in
                if key == "$ref" { pointer = try r.readString() } else { try r.skipValue() }
            }
            guard let pointer else { throw r.fail("a reference without \"$ref\"") }
            return DoclingRef(pointer: pointer)
        }
    }

    private static func isBody(_ r: inout JSONReader) throws -> Bool {
        let layer = try r.readString()
        return layer == nil || layer == "body"
    }

    /// `prov[].page_no`, distinct, in order.
    private static func pages(_ r: inout JSONReader) throws -> [Int] {
        var pages: [Int] = []
        if try r.readNull() { return pages }
        try r.readArray { r in
            try r.readObject { r, key in
                if key == "page_no", let n = try r.readInt() {
                    if !pages.contains(n) { pages.append(n) }
                } else {
                    try r.skipValue()
                }
            }
        }
        return pages
    }

    private static func group(_ r: inout JSONReader) throws -> DoclingDocument.Group {
        var g = DoclingDocument.Group(children: [], isBody: true, label: "", name: "")
        try r.readObject { r, key in
            if key == "children" { g.children = try refs(&r) }
            else if key == "content_layer" { g.isBody = try isBody(&r) }
            else if key == "label" { g.label = try r.readString() ?? "" }
            else if key == "name" { g.name = try r.readString() ?? "" }
            else { try r.skipValue() }
        }
        return g
    }

    private static func textItem(_ r: inout JSONReader) throws -> DoclingDocument.TextItem {
        var t = DoclingDocument.TextItem(label: .text, text: "")
        try r.readObject { r, key in
            if key == "text" { t.text = try r.readString() ?? "" }
            else if key == "label" { t.label = TextLabel(rawValue: try r.readString() ?? "text") }
            else if key == "children" { t.children = try refs(&r) }
            else if key == "content_layer" { t.isBody = try isBody(&r) }
            else if key == "prov" { t.pages = try pages(&r) }
            else if key == "level" { t.level = try r.readInt() }
            else if key == "enumerated" { t.enumerated = try r.readBool() }
            else if key == "marker" { t.marker = try optionalString(&r) }
            else if key == "code_language" { t.codeLanguage = try optionalString(&r) }
            else { try r.skipValue() }
        }
        return t
    }

    /// A string, or nil for any other value (as `try?` does on the Codable path).
    private static func optionalString(_ r: inout JSONReader) throws -> String? {
        if r.peek() == UInt8(ascii: "\"") { return try r.readString() }
        try r.skipValue()
        return nil
    }

    private static func tableItem(_ r: inout JSONReader) throws -> DoclingDocument.TableItem {
        var t = DoclingDocument.TableItem(data: DoclingDocument.TableData(numRows: 0, numCols: 0, cells: []))
        try r.readObject { r, key in
            if key == "data" {
                if try r.readNull() { return }
                try r.readObject { r, key in
                    if key == "num_rows" { t.data.numRows = try r.readInt() ?? 0 }
                    else if key == "num_cols" { t.data.numCols = try r.readInt() ?? 0 }
                    else if key == "table_cells" { t.data.cells = try array(&r, tableCell) }
                    else { try r.skipValue() }
                }
            }
            else if key == "captions" { t.captions = try refs(&r) }
            else if key == "footnotes" { t.footnotes = try refs(&r) }
            else if key == "children" { t.children = try refs(&r) }
            else if key == "content_layer" { t.isBody = try isBody(&r) }
            else if key == "prov" { t.pages = try pages(&r) }
            else { try r.skipValue() }
        }
        return t
    }

    private static func tableCell(_ r: inout JSONReader) throws -> DoclingDocument.TableCell {
        var text = ""
        var startRow = 0, startCol = 0
        var endRow: Int?, endCol: Int?
        var columnHeader = false, rowHeader = false, rowSection = false
        try r.readObject { r, key in
            if key == "text" { text = try r.readString() ?? "" }
            else if key == "start_row_offset_idx" { startRow = try r.readInt() ?? 0 }
            else if key == "end_row_offset_idx" { endRow = try r.readInt() }
            else if key == "start_col_offset_idx" { startCol = try r.readInt() ?? 0 }
            else if key == "end_col_offset_idx" { endCol = try r.readInt() }
            else if key == "column_header" { columnHeader = try r.readBool() ?? false }
            else if key == "row_header" { rowHeader = try r.readBool() ?? false }
            else if key == "row_section" { rowSection = try r.readBool() ?? false }
            else { try r.skipValue() }
        }
        var cell = DoclingDocument.TableCell(text: text, row: startRow, col: startCol, columnHeader: columnHeader,
                                             rowHeader: rowHeader, rowSection: rowSection)
        cell.endRow = endRow ?? startRow + 1
        cell.endCol = endCol ?? startCol + 1
        return cell
    }

    private static func pictureItem(_ r: inout JSONReader) throws -> DoclingDocument.PictureItem {
        var p = DoclingDocument.PictureItem()
        var metaDescription: String?
        var annotationDescription: String?
        try r.readObject { r, key in
            if key == "captions" { p.captions = try refs(&r) }
            else if key == "footnotes" { p.footnotes = try refs(&r) }
            else if key == "children" { p.children = try refs(&r) }
            else if key == "content_layer" { p.isBody = try isBody(&r) }
            else if key == "prov" { p.pages = try pages(&r) }
            else if key == "meta", r.peek() == UInt8(ascii: "{") {
                try r.readObject { r, key in
                    guard key == "description", r.peek() == UInt8(ascii: "{") else { return try r.skipValue() }
                    try r.readObject { r, key in
                        if key == "text", r.peek() == UInt8(ascii: "\"") { metaDescription = try r.readString() } else { try r.skipValue() }
                    }
                }
            }
            else if key == "annotations", r.peek() == UInt8(ascii: "[") {
                try r.readArray { r in
                    guard r.peek() == UInt8(ascii: "{") else { return try r.skipValue() }
                    var kind: String?
                    var text: String?
                    try r.readObject { r, key in
                        if key == "kind", r.peek() == UInt8(ascii: "\"") { kind = try r.readString() }
                        else if key == "text", r.peek() == UInt8(ascii: "\"") { text = try r.readString() }
                        else { try r.skipValue() }
                    }
                    if kind == "description", annotationDescription == nil { annotationDescription = text }
                }
            }
            else { try r.skipValue() }
        }
        p.description = metaDescription ?? annotationDescription
        return p
    }
}
