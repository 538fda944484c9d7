import Foundation
import IngestKit

/// Reads local files with the checks a user needs explained: missing, not a file, too large.
package enum DocumentReader {
    package static func read(_ path: String, displayPath: String, maxBytes: Int) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw IngestError(.unreadable, "\(displayPath): no such file")
        }
        guard !isDirectory.boolValue else {
            throw IngestError(.unreadable, "\(displayPath) is a directory, not a file")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= maxBytes else {
            throw IngestError(.tooLarge, "\(displayPath) has \(size) bytes, over the limit of \(maxBytes) (INGEST_MAX_FILE_BYTES)")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw IngestError(.unreadable, "\(displayPath) cannot be read: \((error as NSError).localizedDescription) (check its permissions)")
        }
    }
}

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

    package static func forFilename(_ name: String) -> String? {
        byExtension[(name as NSString).pathExtension.lowercased()]
    }

    /// Whether a directory walk should send this file to Docling (others are `skipped`).
    package static func isConvertible(_ name: String) -> Bool {
        forFilename(name) != nil
    }
}
