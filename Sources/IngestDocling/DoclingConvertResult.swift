import Foundation
import IngestChunking

/// Docling Serve's `ConvertDocumentResponse` (`/v1/result`), read in one pass with `JSONReader`:
/// `status`, `errors`, `document.md_content` and `document.filename` are read in place, and
/// `document.json_content` is skipped over as bytes and then read by the fast DoclingDocument
/// reader, so the result body is parsed once (no `JSONDecoder` pass over the whole tree first).
package struct DoclingConvertResult: Sendable {
    /// One of Docling's `ErrorItem`s: what went wrong and its category (policy, timeout, …).
    package struct ErrorItem: Sendable, Equatable {
        /// Which part of Docling failed (`user_input`, `pipeline`, `model`, …).
        package var componentType: String?
        /// The human-readable error.
        package var errorMessage: String?
        /// `policy`, `capacity`, `timeout`, `backend_failure`, …: decides the reason we report.
        package var category: String?
        /// The page the error is about, when Docling says.
        package var pageNo: Int?

        /// One line for a report: the message, with its category and page when known.
        package var line: String {
            var text = errorMessage ?? "unknown error"
            if let pageNo { text += " (page \(pageNo))" }
            if let category { text += " [\(category)]" }
            return text
        }
    }

    /// `success`, `partial_success`, `failure` or `skipped`.
    package var status: String?
    package var errors: [ErrorItem] = []
    /// `document.md_content`.
    package var markdown: String?
    /// `document.filename`.
    package var filename: String?
    /// Where `document.json_content` lies in the body, when present and not null.
    private var jsonContent: Range<Int>?

    /// Whether the response carries a DoclingDocument.
    package var hasDocument: Bool { jsonContent != nil }

    /// Reads the envelope of `body` (already decompressed).
    /// - Throws: `DoclingDecodingError` when the body is not a convert response.
    package static func read(_ body: Data) throws -> DoclingConvertResult {
        do {
            return try body.withUnsafeBytes { raw in
                var reader = JSONReader(raw.bindMemory(to: UInt8.self))
                var result = DoclingConvertResult()
                try reader.readObject { r, key in
                    if key == "status" {
                        result.status = try r.readString()
                    } else if key == "errors" {
                        if try r.readNull() { return }
                        try r.readArray { r in result.errors.append(try errorItem(&r)) }
                    } else if key == "document", r.peek() == UInt8(ascii: "{") {
                        try r.readObject { r, key in
                            if key == "md_content" {
                                result.markdown = try r.readString()
                            } else if key == "filename" {
                                result.filename = try r.readString()
                            } else if key == "json_content" {
                                if try r.readNull() { return }
                                _ = r.peek()
                                let start = r.offset
                                try r.skipValue()
                                result.jsonContent = start..<r.offset
                            } else {
                                try r.skipValue()
                            }
                        }
                    } else {
                        try r.skipValue()
                    }
                }
                try reader.expectEnd()
                return result
            }
        } catch let failure as JSONReader.Failure {
            throw DoclingDecodingError(description: "not a Docling convert response: \(failure.message) at byte \(failure.offset)")
        }
    }

    /// The DoclingDocument in `json_content` of `body` (the same bytes given to ``read(_:)``),
    /// or nil when there is none.
    /// - Throws: `DoclingDecodingError` saying what is wrong with it.
    package func document(in body: Data) throws -> DoclingDocument? {
        guard let range = jsonContent else { return nil }
        if let document = body.withUnsafeBytes({ raw in
            try? DoclingFastReader.read(UnsafeBufferPointer(rebasing: raw.bindMemory(to: UInt8.self)[range]))
        }) {
            return document
        }
        // Only for input the fast reader refuses: the reference decoder writes the precise error.
        return try DoclingJSON.decodeWithJSONDecoder(body.subdata(in: range))
    }

    private static func errorItem(_ r: inout JSONReader) throws -> ErrorItem {
        var item = ErrorItem()
        try r.readObject { r, key in
            if key == "component_type" {
                item.componentType = try r.readString()
            } else if key == "error_message" {
                item.errorMessage = try r.readString()
            } else if key == "category" {
                item.category = try r.readString()
            } else if key == "page_no" {
                item.pageNo = try r.readInt()
            } else {
                try r.skipValue()
            }
        }
        return item
    }
}
