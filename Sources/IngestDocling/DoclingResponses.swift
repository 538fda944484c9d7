import Foundation
import IngestChunking
import IngestKit

/// Docling's `TaskStatusResponse` (submit and poll answers): only the fields we act on.
package struct DoclingTaskStatusResponse: Decodable, Sendable, Equatable {
    /// The id to poll and fetch with.
    package var taskID: String
    /// `pending`, `started`, `success`, `partial_success`, `failure` or `skipped`.
    package var taskStatus: String?
    /// Docling's reason for a failed task (often just "Internal processing error.").
    package var errorMessage: String?

    enum CodingKeys: String, CodingKey {
        case taskID = "task_id", taskStatus = "task_status", errorMessage = "error_message"
    }
}

/// Turns Docling's answers into outcomes: pure functions, shared by the client and its tests.
package enum DoclingResponseMapper {
    /// Maps a `ConvertDocumentResponse` body (HTTP 200) to a conversion, or throws the
    /// ``IngestError`` its `status` and `errors` call for.
    /// - Parameter source: the document's name for messages (already redacted).
    package static func conversion(from body: Data, source: String) throws -> ConvertedDocument {
        let response: DoclingConvertResult
        do {
            response = try DoclingConvertResult.read(body)
        } catch {
            throw IngestError(.parseFailed, "Docling's answer for \(source) is not a conversion result (\(error)); is DOCLING_SERVE_URL a Docling Serve 1.x?")
        }
        let errors = response.errors
        let lines = errors.map(\.line)
        let joined = lines.isEmpty ? "no error given" : lines.joined(separator: "; ")
        switch response.status {
        case "success", "partial_success":
            guard response.hasDocument else {
                throw IngestError(.parseFailed, "Docling converted \(source) but returned no JSON document (status \(response.status ?? "")); \(joined)")
            }
            let document: DoclingDocument
            do {
                // Non-nil: hasDocument.
                guard let read = try response.document(in: body) else { throw DoclingDecodingError(description: "json_content is missing") }
                document = read
            } catch {
                throw IngestError(.parseFailed, "Docling's JSON for \(source) could not be read: \(error); report it with the file, Docling Serve may be newer than this client supports")
            }
            return ConvertedDocument(
                document: document,
                markdown: response.markdown,
                status: response.status == "success" ? .success : .partialSuccess,
                warnings: lines
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
