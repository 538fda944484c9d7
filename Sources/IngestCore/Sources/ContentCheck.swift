import Foundation
import IngestKit

/// Plain-words checks of a document's bytes before it is sent to Docling, for the failures whose
/// Docling message misleads (an OCR hint for an empty Markdown file, a parser error with a hash for
/// an empty PDF, "convert it to PDF" for a binary renamed `.pdf`, a page_range error for an empty
/// PPTX). Pure: bytes and a name in, a verdict out.
package enum ContentCheck {
    /// Throws an ``IngestError`` that says what is wrong with `data` (named `filename`, shown as
    /// `display`) when it is empty or is not what its extension claims; returns otherwise.
    package static func check(_ data: Data, filename: String, display: String) throws {
        guard !data.isEmpty else {
            throw IngestError(.emptyDocument, "\(display) is empty (0 bytes): there is nothing to ingest")
        }
        let ext = (filename as NSString).pathExtension.lowercased()
        if textExtensions.contains(ext) {
            if data.allSatisfy({ $0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D }) {
                throw IngestError(.emptyDocument, "\(display) holds only whitespace: there is no text to ingest")
            }
            return
        }
        if ext == "pdf", !data.starts(with: Array("%PDF-".utf8)), !leadingWhitespaceThenPDF(data) {
            throw IngestError(.parseFailed, "\(display) is named .pdf but is not a PDF (\(describe(data))); check the file, or give it the extension of its real type")
        }
        if let kind = officeKinds[ext], !data.starts(with: [0x50, 0x4B, 0x03, 0x04]) {
            throw IngestError(.parseFailed, "\(display) is named .\(ext) but is not a \(kind) (those are ZIP archives; this one \(describe(data))); check the file, or give it the extension of its real type")
        }
    }

    /// Whether "no text" may mean "no OCR": PDFs and images, where text can be pixels.
    package static func mayNeedOCR(_ filename: String) -> Bool {
        ["pdf", "png", "jpg", "jpeg", "tif", "tiff", "bmp", "webp", "gif"].contains((filename as NSString).pathExtension.lowercased())
    }

    /// Formats whose content is plain text, where only whitespace means "nothing to ingest".
    static let textExtensions: Set<String> = ["md", "markdown", "txt", "text", "csv", "adoc", "asciidoc", "html", "htm", "xhtml"]

    /// Office Open XML formats: always a ZIP archive.
    static let officeKinds: [String: String] = [
        "docx": "Word document", "dotx": "Word template", "docm": "Word document",
        "pptx": "PowerPoint presentation", "potx": "PowerPoint template", "pptm": "PowerPoint presentation",
        "xlsx": "Excel workbook", "xltx": "Excel template", "xlsm": "Excel workbook",
    ]

    /// PDF readers accept a few bytes of junk before the header; so do we (up to 1 KiB of whitespace).
    private static func leadingWhitespaceThenPDF(_ data: Data) -> Bool {
        guard let start = data.prefix(1024).firstIndex(where: { !($0 == 0x20 || $0 == 0x09 || $0 == 0x0A || $0 == 0x0D) }) else { return false }
        return data[start...].starts(with: Array("%PDF-".utf8))
    }

    /// What the first bytes look like, in words a person can check.
    static func describe(_ data: Data) -> String {
        let head = Array(data.prefix(8))
        let signatures: [(bytes: [UInt8], name: String)] = [
            ([0x50, 0x4B, 0x03, 0x04], "it is a ZIP archive, e.g. an Office file"),
            (Array("%PDF-".utf8), "it is a PDF"),
            ([0x89, 0x50, 0x4E, 0x47], "it is a PNG image"),
            ([0xFF, 0xD8, 0xFF], "it is a JPEG image"),
            ([0x1F, 0x8B], "it is gzip-compressed"),
            ([0x7F, 0x45, 0x4C, 0x46], "it is an ELF executable"),
            ([0xD0, 0xCF, 0x11, 0xE0], "it is a legacy Office (OLE2) file"),
            (Array("<".utf8), "it looks like HTML or XML"),
            (Array("{".utf8), "it looks like JSON"),
        ]
        for signature in signatures where head.starts(with: signature.bytes) { return signature.name }
        let hex = head.map { String(format: "%02X", $0) }.joined(separator: " ")
        let printable = data.prefix(256).allSatisfy { $0 == 0x09 || $0 == 0x0A || $0 == 0x0D || (0x20..<0x7F).contains($0) || $0 >= 0x80 }
        return printable ? "it starts as plain text" : "it starts with the bytes \(hex)"
    }
}
