import Foundation

/// File types Docling Serve 1.38 converts, by extension, and the MIME types we record.
package enum MimeTypes {
    /// Extension (lower-case) → MIME type, for every format Docling converts.
    package static let byExtension: [String: String] = [
        "pdf": "application/pdf",
        "docx": "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
        "dotx": "application/vnd.openxmlformats-officedocument.wordprocessingml.template",
        "docm": "application/vnd.ms-word.document.macroEnabled.12",
        "dotm": "application/vnd.ms-word.template.macroEnabled.12",
        "pptx": "application/vnd.openxmlformats-officedocument.presentationml.presentation",
        "potx": "application/vnd.openxmlformats-officedocument.presentationml.template",
        "ppsx": "application/vnd.openxmlformats-officedocument.presentationml.slideshow",
        "pptm": "application/vnd.ms-powerpoint.presentation.macroEnabled.12",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        "xlsm": "application/vnd.ms-excel.sheet.macroEnabled.12",
        "html": "text/html", "htm": "text/html", "xhtml": "application/xhtml+xml",
        "md": "text/markdown", "markdown": "text/markdown",
        "txt": "text/plain",
        "csv": "text/csv",
        "adoc": "text/asciidoc", "asciidoc": "text/asciidoc", "asc": "text/asciidoc",
        "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "tif": "image/tiff", "tiff": "image/tiff",
        "bmp": "image/bmp", "webp": "image/webp",
        "xml": "application/xml", "nxml": "application/xml",
        "vtt": "text/vtt",
        "tex": "application/x-tex",
        "eml": "message/rfc822",
        "epub": "application/epub+zip",
    ]

    /// Types we name but never send in a directory walk: Docling reads a `.json` only as a
    /// DoclingDocument, which loose JSON files in a folder rarely are (named explicitly, it goes).
    static let namedOnly: [String: String] = ["json": "application/json"]

    /// The MIME type for a file name's extension, nil when unknown.
    package static func forFilename(_ name: String) -> String? {
        let ext = (name as NSString).pathExtension.lowercased()
        return byExtension[ext] ?? namedOnly[ext]
    }

    /// Whether a directory walk should send this file to Docling (others are `skipped`).
    package static func isConvertible(_ name: String) -> Bool {
        byExtension[(name as NSString).pathExtension.lowercased()] != nil
    }
}
