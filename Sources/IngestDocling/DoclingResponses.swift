import Foundation
import IngestKit

/// Docling's `TaskStatusResponse` (submit and poll answers): only the fields we act on.
package struct DoclingTaskStatusResponse: Decodable, Sendable, Equatable {
    /// The id to poll and fetch with.
    package var taskID: String
    /// `pending`, `started`, `success`, `partial_success`, `failure` or `skipped`.
    package var taskStatus: String?
    /// Place in Docling's queue while pending.
    package var taskPosition: Int?
    /// Docling's reason for a failed task (often just "Internal processing error.").
    package var errorMessage: String?

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id", taskStatus = "task_status", taskPosition = "task_position", errorMessage = "error_message"
    }
}

/// One of Docling's `ErrorItem`s: what went wrong and its category (policy, timeout, …).
package struct DoclingErrorItem: Decodable, Sendable, Equatable {
    /// Which part of Docling failed (`user_input`, `pipeline`, `model`, …).
    package var componentType: String?
    /// The human-readable error.
    package var errorMessage: String?
    /// `policy`, `capacity`, `timeout`, `backend_failure`, …: decides the reason we report.
    package var category: String?
    /// The page the error is about, when Docling says.
    package var pageNo: Int?

    enum CodingKeys: String, CodingKey {
        case componentType = "component_type", errorMessage = "error_message", category, pageNo = "page_no"
    }

    /// One line for a report: the message, with its category and page when known.
    package var line: String {
        var text = errorMessage ?? "unknown error"
        if let pageNo { text += " (page \(pageNo))" }
        if let category { text += " [\(category)]" }
        return text
    }
}

/// Docling's `ConvertDocumentResponse`, without `json_content` itself (only whether it is
/// there): the DoclingDocument is decoded from the same body by `DoclingJSON`, so the large tree
/// is never copied into a `JSONValue` here.
package struct DoclingConvertResponse: Decodable, Sendable {
    /// The `document` object: the exports we asked for.
    package struct Document: Decodable, Sendable {
        /// The uploaded file's name, echoed.
        package var filename: String?
        /// The Markdown export (`md_content`).
        package var mdContent: String?
        /// Whether `json_content` is present and not null.
        package var hasJSONContent: Bool

        enum CodingKeys: String, CodingKey { case filename, mdContent = "md_content", jsonContent = "json_content" }

        /// Reads nothing: only used to learn whether `json_content` is present and not null.
        private struct Present: Decodable { init(from decoder: any Decoder) throws {} }

        /// Decodes everything but `json_content`, which is only checked for presence.
        package init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            filename = try c.decodeIfPresent(String.self, forKey: .filename)
            mdContent = try c.decodeIfPresent(String.self, forKey: .mdContent)
            hasJSONContent = try c.decodeIfPresent(Present.self, forKey: .jsonContent) != nil
        }
    }

    /// The converted document's exports (null contents on failure).
    package var document: Document?
    /// `success`, `partial_success`, `failure` or `skipped`: HTTP 200 does not mean success.
    package var status: String?
    /// What went wrong, also on a partial success.
    package var errors: [DoclingErrorItem]?
    /// Seconds Docling spent.
    package var processingTime: Double?

    enum CodingKeys: String, CodingKey { case document, status, errors, processingTime = "processing_time" }
}

/// A conversion Docling finished, before its DoclingDocument is decoded: the raw result body
/// (for `DoclingJSON.decodeDocument(from:)`) and what we read from it.
package struct DoclingConversion: Sendable {
    /// The whole `/v1/result` body (a `ConvertDocumentResponse` holding `json_content`).
    package var body: Data
    /// The Markdown export.
    package var markdown: String?
    /// Success or partial success (anything else was thrown).
    package var status: ConvertedDocument.Status
    /// Docling's errors on a partial success, one line each.
    package var warnings: [String]
    /// Seconds Docling says it spent.
    package var processingTime: Double?
}

/// Turns Docling's answers into outcomes: pure functions, shared by the client and its tests.
package enum DoclingResponseMapper {
    /// Maps a `ConvertDocumentResponse` body (HTTP 200) to a conversion, or throws the
    /// ``IngestError`` its `status` and `errors` call for (docling-api.md §4.3).
    /// - Parameter source: the document's name for messages (already redacted).
    package static func conversion(from body: Data, source: String) throws -> DoclingConversion {
        let response: DoclingConvertResponse
        do {
            response = try JSONDecoder().decode(DoclingConvertResponse.self, from: body)
        } catch {
            throw IngestError(.parseFailed, "Docling's answer for \(source) is not a conversion result (\(error)); is DOCLING_SERVE_URL a Docling Serve 1.x?")
        }
        let errors = response.errors ?? []
        let lines = errors.map(\.line)
        let joined = lines.isEmpty ? "no error given" : lines.joined(separator: "; ")
        switch response.status {
        case "success", "partial_success":
            guard response.document?.hasJSONContent == true else {
                throw IngestError(.parseFailed, "Docling converted \(source) but returned no JSON document (status \(response.status ?? "")); \(joined)")
            }
            return DoclingConversion(
                body: body,
                markdown: response.document?.mdContent,
                status: response.status == "success" ? .success : .partialSuccess,
                warnings: lines,
                processingTime: response.processingTime
            )
        case "skipped":
            throw IngestError(.unsupportedFormat, "Docling does not convert this type of file: \(source) (\(joined)); convert it to PDF, DOCX, HTML or Markdown first, or leave it out")
        case "failure":
            if errors.contains(where: { $0.category == "policy" && Self.isSizeLimit($0.errorMessage ?? "") }) {
                throw IngestError(.tooLarge, "Docling Serve refused \(source) as too large: \(joined); split the document or raise the server's DOCLING_SERVE_MAX_FILE_SIZE / DOCLING_SERVE_MAX_NUM_PAGES")
            }
            if errors.contains(where: { $0.category == "timeout" }) {
                throw IngestError(.parseTimeout, "Docling gave up on \(source) at its document_timeout: \(joined); raise DOCLING_TIMEOUT_SECONDS or split the document")
            }
            let transient = errors.contains { $0.category == "capacity" }
            throw IngestError(.parseFailed, "Docling could not convert \(source): \(joined)\(transient ? "; the server was out of capacity, try again later" : "; check that the file opens, or re-export it")", transient: transient)
        default:
            throw IngestError(.parseFailed, "Docling answered status \"\(response.status ?? "null")\" for \(source), which this client does not know: \(joined)")
        }
    }

    private static func isSizeLimit(_ message: String) -> Bool {
        message.contains("max_file_size") || message.contains("max_num_pages")
    }

    /// FastAPI's `detail`: a string, or a list of validation errors (`loc` + `msg`), as one line.
    package static func detail(of body: Data) -> String? {
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: body), let detail = value["detail"] else { return nil }
        switch detail {
        case .string(let text):
            return text
        case .array(let items):
            return items.map { item in
                let loc = (item["loc"]?.arrayValue ?? []).map { $0.stringValue ?? $0.intValue.map(String.init) ?? "?" }.joined(separator: ".")
                let msg = item["msg"]?.stringValue ?? item.jsonString()
                return loc.isEmpty ? msg : "\(loc): \(msg)"
            }.joined(separator: "; ")
        default:
            return detail.jsonString()
        }
    }
}
