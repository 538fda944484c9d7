/// A DoclingDocument (Docling Serve's `json_content`), decoded with only what chunking needs.
///
/// Every field is optional on the wire: Docling adds and drops fields between versions, and a
/// chunker that refused a document over an unknown key would lose whole files. Unknown keys are
/// skipped by `Decodable`; `origin.binary_hash` (larger than `Int64`) is never decoded.
package struct DoclingDocument: Sendable, Decodable {
    /// The file stem Docling gave the document.
    package var name: String
    /// `origin`: where the document came from.
    package var origin: Origin?
    /// The root of the reading-order tree.
    package var body: Group
    /// `texts[]`, indexed by `#/texts/N`: `$ref`s point into these flat arrays.
    package var texts: [TextItem]
    /// `tables[]`, indexed by `#/tables/N`.
    package var tables: [TableItem]
    /// `pictures[]`, indexed by `#/pictures/N`.
    package var pictures: [PictureItem]
    /// `groups[]` (lists, inline runs, slides, sheets), indexed by `#/groups/N`.
    package var groups: [Group]
    /// Number of entries in `pages` (PDF pages, PPTX slides, XLSX sheets).
    private var pagesCount: Int

    /// Number of pages (PDF pages, PPTX slides, XLSX sheets); nil when the format has none.
    package var pageCount: Int? { pagesCount > 0 ? pagesCount : nil }
    /// `origin.mimetype`, when present: what Docling's backend decided the file was.
    package var mimetype: String? { origin?.mimetype }

    private enum CodingKeys: String, CodingKey {
        case name, origin, body, texts, tables, pictures, groups, pages
    }

    package init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        origin = try c.decodeIfPresent(Origin.self, forKey: .origin)
        body = try c.decodeIfPresent(Group.self, forKey: .body) ?? Group(children: [])
        texts = try c.decodeIfPresent([TextItem].self, forKey: .texts) ?? []
        tables = try c.decodeIfPresent([TableItem].self, forKey: .tables) ?? []
        pictures = try c.decodeIfPresent([PictureItem].self, forKey: .pictures) ?? []
        groups = try c.decodeIfPresent([Group].self, forKey: .groups) ?? []
        pagesCount = try c.decodeIfPresent([String: Ignored].self, forKey: .pages)?.count ?? 0
    }

    /// Builds a document in code (tests, synthetic inputs).
    package init(name: String, origin: Origin? = nil, body: Group, texts: [TextItem] = [], tables: [TableItem] = [],
                 pictures: [PictureItem] = [], groups: [Group] = [], pageCount: Int? = nil) {
        self.name = name
        self.origin = origin
        self.body = body
        self.texts = texts
        self.tables = tables
        self.pictures = pictures
        self.groups = groups
        self.pagesCount = pageCount ?? 0
    }
}

extension DoclingDocument {
    /// `origin`: only the fields a chunker or report shows.
    package struct Origin: Sendable, Decodable {
        /// What Docling's backend decided the file was (a `.txt` reports text/markdown).
        package var mimetype: String?
        /// The file name Docling was given.
        package var filename: String?
    }

    /// A `groups[]` entry or the `body` root: a node that only holds children.
    package struct Group: Sendable, Decodable {
        /// The group's items in reading order.
        package var children: [DoclingRef]
        /// False for furniture, notes, background and invisible layers: such subtrees are skipped.
        package var isBody: Bool
        /// `list`, `ordered_list`, `inline`, `section`, `chapter`, `sheet`, … (empty when absent).
        package var label: String
        /// The group's name: a sheet name for XLSX, `slide-0` for PPTX, `footer` for HTML.
        package var name: String

        /// Builds a group in code (tests, synthetic inputs).
        package init(children: [DoclingRef], isBody: Bool = true, label: String = "unspecified", name: String = "") {
            self.children = children
            self.isBody = isBody
            self.label = label
            self.name = name
        }

        private enum CodingKeys: String, CodingKey { case children, contentLayer = "content_layer", label, name }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            children = try c.decodeIfPresent([DoclingRef].self, forKey: .children) ?? []
            isBody = try DoclingDocument.isBodyLayer(c.decodeIfPresent(String.self, forKey: .contentLayer))
            label = try c.decodeIfPresent(String.self, forKey: .label) ?? ""
            name = try c.decodeIfPresent(String.self, forKey: .name) ?? ""
        }
    }

    /// A `texts[]` entry: paragraphs, headings, list items, captions, code, formulas, ….
    package struct TextItem: Sendable, Decodable {
        /// What kind of text this is; decides heading, list, code or paragraph handling.
        package var label: TextLabel
        /// Docling's normalised text (`orig` is not read).
        package var text: String
        /// Items hung under this one (a heading's section in HTML/DOCX, a list item's nested list).
        package var children: [DoclingRef]
        /// False for furniture, notes, background and invisible layers: such subtrees are skipped.
        package var isBody: Bool
        /// `section_header` level (1 = first level below the title).
        package var level: Int?
        /// `list_item`: numbered or not, and the marker Docling kept (`""`, `"1."`).
        package var enumerated: Bool?
        /// The list marker Docling kept; empty for bullets.
        package var marker: String?
        /// `code`: the fence language.
        package var codeLanguage: String?
        /// Distinct page numbers from `prov` (slide number for PPTX, sheet index for XLSX).
        package var pages: [Int]

        /// Builds a text item in code (tests, synthetic inputs).
        package init(label: TextLabel, text: String, children: [DoclingRef] = [], isBody: Bool = true, level: Int? = nil,
                     enumerated: Bool? = nil, marker: String? = nil, codeLanguage: String? = nil, pages: [Int] = []) {
            self.label = label
            self.text = text
            self.children = children
            self.isBody = isBody
            self.level = level
            self.enumerated = enumerated
            self.marker = marker
            self.codeLanguage = codeLanguage
            self.pages = pages
        }

        private enum CodingKeys: String, CodingKey {
            case label, text, children, contentLayer = "content_layer", level, enumerated, marker
            case codeLanguage = "code_language", prov
        }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            label = TextLabel(rawValue: try c.decodeIfPresent(String.self, forKey: .label) ?? "text")
            text = try c.decodeIfPresent(String.self, forKey: .text) ?? ""
            children = try c.decodeIfPresent([DoclingRef].self, forKey: .children) ?? []
            isBody = try DoclingDocument.isBodyLayer(c.decodeIfPresent(String.self, forKey: .contentLayer))
            level = try? c.decodeIfPresent(Int.self, forKey: .level)
            enumerated = try? c.decodeIfPresent(Bool.self, forKey: .enumerated)
            marker = try? c.decodeIfPresent(String.self, forKey: .marker)
            codeLanguage = try? c.decodeIfPresent(String.self, forKey: .codeLanguage)
            pages = DoclingDocument.pageNumbers(try c.decodeIfPresent([Provenance].self, forKey: .prov))
        }
    }

    /// A `tables[]` entry. The grid is rebuilt from `table_cells` (always present) rather than
    /// decoding Docling's dense `grid`, which repeats every spanning cell and doubles decode work.
    package struct TableItem: Sendable, Decodable {
        /// Not walked: rich cells' items are already in the cell text.
        package var children: [DoclingRef]
        /// False outside the body layer.
        package var isBody: Bool
        /// Caption items, emitted before the table (and skipped where they also sit in the tree).
        package var captions: [DoclingRef]
        /// Footnote items, emitted after the table's rows.
        package var footnotes: [DoclingRef]
        /// Distinct page numbers from `prov`.
        package var pages: [Int]
        /// The cells.
        package var data: TableData

        /// Builds a table in code (tests, synthetic inputs).
        package init(data: TableData, captions: [DoclingRef] = [], footnotes: [DoclingRef] = [], children: [DoclingRef] = [],
                     isBody: Bool = true, pages: [Int] = []) {
            self.data = data
            self.captions = captions
            self.footnotes = footnotes
            self.children = children
            self.isBody = isBody
            self.pages = pages
        }

        private enum CodingKeys: String, CodingKey {
            case children, contentLayer = "content_layer", captions, footnotes, prov, data
        }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            children = try c.decodeIfPresent([DoclingRef].self, forKey: .children) ?? []
            isBody = try DoclingDocument.isBodyLayer(c.decodeIfPresent(String.self, forKey: .contentLayer))
            captions = try c.decodeIfPresent([DoclingRef].self, forKey: .captions) ?? []
            footnotes = try c.decodeIfPresent([DoclingRef].self, forKey: .footnotes) ?? []
            pages = DoclingDocument.pageNumbers(try c.decodeIfPresent([Provenance].self, forKey: .prov))
            data = try c.decodeIfPresent(TableData.self, forKey: .data) ?? TableData(numRows: 0, numCols: 0, cells: [])
        }
    }

    /// `tables[].data`: the cells with their grid offsets.
    package struct TableData: Sendable, Decodable {
        /// Grid size as Docling states it (widened to fit the cells if it is too small).
        package var numRows: Int
        package var numCols: Int
        /// Each real cell once (`table_cells`); spans are in the offsets.
        package var cells: [TableCell]

        /// Builds table data in code (tests, synthetic inputs).
        package init(numRows: Int, numCols: Int, cells: [TableCell]) {
            self.numRows = numRows
            self.numCols = numCols
            self.cells = cells
        }

        private enum CodingKeys: String, CodingKey { case numRows = "num_rows", numCols = "num_cols", cells = "table_cells" }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            numRows = try c.decodeIfPresent(Int.self, forKey: .numRows) ?? 0
            numCols = try c.decodeIfPresent(Int.self, forKey: .numCols) ?? 0
            cells = try c.decodeIfPresent([TableCell].self, forKey: .cells) ?? []
        }
    }

    /// One real cell; a spanning cell covers `[startRow, endRow) × [startCol, endCol)`.
    package struct TableCell: Sendable, Decodable {
        /// The cell's text.
        package var text: String
        /// Half-open grid offsets (`start_*_offset_idx`, `end_*_offset_idx`).
        package var startRow: Int
        package var endRow: Int
        package var startCol: Int
        package var endCol: Int
        /// Header flags: column headers name the columns, row headers mark the row-label column.
        package var columnHeader: Bool
        package var rowHeader: Bool
        package var rowSection: Bool

        /// Builds a cell in code (tests, synthetic inputs).
        package init(text: String, row: Int, col: Int, rowSpan: Int = 1, colSpan: Int = 1,
                     columnHeader: Bool = false, rowHeader: Bool = false, rowSection: Bool = false) {
            self.text = text
            self.startRow = row
            self.endRow = row + rowSpan
            self.startCol = col
            self.endCol = col + colSpan
            self.columnHeader = columnHeader
            self.rowHeader = rowHeader
            self.rowSection = rowSection
        }

        private enum CodingKeys: String, CodingKey {
            case text, startRow = "start_row_offset_idx", endRow = "end_row_offset_idx"
            case startCol = "start_col_offset_idx", endCol = "end_col_offset_idx"
            case columnHeader = "column_header", rowHeader = "row_header", rowSection = "row_section"
        }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            text = try c.decodeIfPresent(String.self, forKey: .text) ?? ""
            startRow = try c.decodeIfPresent(Int.self, forKey: .startRow) ?? 0
            endRow = try c.decodeIfPresent(Int.self, forKey: .endRow) ?? startRow + 1
            startCol = try c.decodeIfPresent(Int.self, forKey: .startCol) ?? 0
            endCol = try c.decodeIfPresent(Int.self, forKey: .endCol) ?? startCol + 1
            columnHeader = try c.decodeIfPresent(Bool.self, forKey: .columnHeader) ?? false
            rowHeader = try c.decodeIfPresent(Bool.self, forKey: .rowHeader) ?? false
            rowSection = try c.decodeIfPresent(Bool.self, forKey: .rowSection) ?? false
        }
    }

    /// A `pictures[]` entry: only its captions, a model-written description and its children
    /// (text found inside a figure) carry text.
    package struct PictureItem: Sendable, Decodable {
        /// Text found inside the figure, walked after its caption.
        package var children: [DoclingRef]
        /// False outside the body layer.
        package var isBody: Bool
        /// Caption and footnote items, emitted with the picture.
        package var captions: [DoclingRef]
        package var footnotes: [DoclingRef]
        /// Distinct page numbers from `prov`.
        package var pages: [Int]
        /// `meta.description.text`, or a `description` annotation (older layout).
        package var description: String?

        /// Builds a picture in code (tests, synthetic inputs).
        package init(captions: [DoclingRef] = [], footnotes: [DoclingRef] = [], children: [DoclingRef] = [], isBody: Bool = true,
                     pages: [Int] = [], description: String? = nil) {
            self.captions = captions
            self.footnotes = footnotes
            self.children = children
            self.isBody = isBody
            self.pages = pages
            self.description = description
        }

        private enum CodingKeys: String, CodingKey {
            case children, contentLayer = "content_layer", captions, footnotes, prov, meta, annotations
        }

        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            children = try c.decodeIfPresent([DoclingRef].self, forKey: .children) ?? []
            isBody = try DoclingDocument.isBodyLayer(c.decodeIfPresent(String.self, forKey: .contentLayer))
            captions = try c.decodeIfPresent([DoclingRef].self, forKey: .captions) ?? []
            footnotes = try c.decodeIfPresent([DoclingRef].self, forKey: .footnotes) ?? []
            pages = DoclingDocument.pageNumbers(try c.decodeIfPresent([Provenance].self, forKey: .prov))
            let meta = try? c.decodeIfPresent(PictureMeta.self, forKey: .meta)
            let annotations = (try? c.decodeIfPresent([Annotation].self, forKey: .annotations)) ?? []
            description = meta?.description?.text
                ?? annotations.first(where: { $0.kind == "description" })?.text
        }

        private struct PictureMeta: Decodable { var description: TextField? }
        private struct TextField: Decodable { var text: String? }
        private struct Annotation: Decodable { var kind: String?; var text: String? }
    }

    /// `prov[]`: only the page number matters to a chunk.
    private struct Provenance: Decodable {
        var pageNo: Int?
        private enum CodingKeys: String, CodingKey { case pageNo = "page_no" }
    }

    /// Decodes nothing; used to count `pages` without decoding page sizes and images.
    private struct Ignored: Decodable {
        init(from decoder: any Decoder) throws {}
    }

    /// Missing `content_layer` means body (older documents had no layers).
    private static func isBodyLayer(_ layer: String?) -> Bool {
        layer == nil || layer == "body"
    }

    private static func pageNumbers(_ prov: [Provenance]?) -> [Int] {
        guard let prov, !prov.isEmpty else { return [] }
        var pages: [Int] = []
        for p in prov {
            if let n = p.pageNo, !pages.contains(n) { pages.append(n) }
        }
        return pages
    }
}

/// A text item's `label`. Unknown labels are kept (as `.other`) and chunked as plain text, so a
/// label Docling adds later never drops content.
package enum TextLabel: Sendable, Hashable {
    case title, sectionHeader, text, paragraph, listItem, caption, footnote, pageHeader, pageFooter
    case code, formula, reference, checkboxSelected, checkboxUnselected
    case other(String)

    /// Maps Docling's label string; unknown strings become `.other`.
    package init(rawValue: String) {
        switch rawValue {
        case "title": self = .title
        case "section_header": self = .sectionHeader
        case "text": self = .text
        case "paragraph": self = .paragraph
        case "list_item": self = .listItem
        case "caption": self = .caption
        case "footnote": self = .footnote
        case "page_header": self = .pageHeader
        case "page_footer": self = .pageFooter
        case "code": self = .code
        case "formula": self = .formula
        case "reference": self = .reference
        case "checkbox_selected": self = .checkboxSelected
        case "checkbox_unselected": self = .checkboxUnselected
        default: self = .other(rawValue)
        }
    }

    /// A title or section header: a heading wherever it hangs in the tree.
    package var isHeading: Bool { self == .title || self == .sectionHeader }
}
