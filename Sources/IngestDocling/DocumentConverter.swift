import Foundation
import IngestChunking
import IngestKit

/// A document read into memory: its bytes, the identity it is stored under and the name whose
/// extension tells Docling its type. What the pipeline loads, hashes, converts and records.
package struct SourceDocument: Sendable, Equatable {
    /// The identity of what was ingested: a file's real path, a URL, or the name given for inline content.
    package var source: String
    /// The file name sent to Docling (its extension selects the backend).
    package var filename: String
    package var bytes: Data
    /// A MIME type when the caller knows one (otherwise derived from the extension).
    package var mimetype: String?

    package init(source: String, filename: String, bytes: Data, mimetype: String? = nil) {
        self.source = source
        self.filename = filename
        self.bytes = bytes
        self.mimetype = mimetype
    }
}

/// What Docling made of a document: the client's answer and the pipeline's input, one type.
package struct ConvertedDocument: Sendable {
    package enum Status: String, Sendable { case success, partialSuccess = "partial_success" }

    package var document: DoclingDocument
    /// Docling's Markdown export, when it was asked for (used when the JSON holds no text).
    package var markdown: String?
    /// Success or partial success (anything else was thrown).
    package var status: Status
    /// Docling's own errors on a partial success, as human-readable lines for the report.
    package var warnings: [String]

    package init(document: DoclingDocument, markdown: String? = nil, status: Status = .success, warnings: [String] = []) {
        self.document = document
        self.markdown = markdown
        self.status = status
        self.warnings = warnings
    }
}

/// Turns a document's bytes into a DoclingDocument (Docling Serve in production, fakes in tests).
package protocol DocumentConverter: Sendable {
    /// Converts one document.
    /// - Parameters:
    ///   - document: the bytes and file name.
    ///   - options: the Docling convert options, already merged (DOCLING_CONVERT_OPTIONS under
    ///     the request's); the converter only forces the output formats it needs.
    /// - Throws: ``IngestError`` with reason `unsupported_format`, `parse_failed`, `parse_timeout`,
    ///   `too_large`, `auth_failed`, `service_unavailable`, …; `isTransient` when a retry may help.
    func convert(_ document: SourceDocument, options: [String: JSONValue]) async throws -> ConvertedDocument

    /// Checks the service answers (for `ingest doctor` and `/health`); throws ``IngestError``.
    func checkHealth() async throws
}
