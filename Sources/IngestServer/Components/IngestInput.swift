import Foundation
import IngestCore
import IngestKit

/// The `input` of a `/ingest` step, checked field by field so a flow author learns exactly which
/// field is wrong. Parsing never touches the network or the disk; the pipeline does that.
package struct IngestInput: Sendable, Equatable {
    /// Where the document is. `blob` must be fetched from the orchestrator first.
    package enum Source: Sendable, Equatable {
        case path(String)
        case url(String)
        case inline(filename: String?, bytes: Data)
        case blob(id: String)
    }

    /// The `source` field.
    package var source: Source
    /// `filename` given inside the `source` object (names inline content).
    package var sourceFilename: String?
    /// `mimetype` given inside the `source` object.
    package var sourceMimetype: String?
    // The optional top-level fields, as the pipeline request names them.
    package var filename: String?
    package var index: String?
    package var owner: String?
    package var ownerName: String?
    package var ownerEmail: String?
    package var connectorType: String?
    package var mimetype: String?
    package var maxTokens: Int?
    package var doclingOptions: [String: JSONValue] = [:]

    /// Top-level fields accepted beside `source`.
    package static let topLevelFields: Set<String> = [
        "source", "filename", "index", "owner", "owner_name", "owner_email", "connector_type", "mimetype", "options",
    ]
    /// Fields of a `source` object: exactly one of the first four, plus optional naming fields.
    package static let sourceKinds = ["url", "path", "base64", "blob_id"]
    /// Naming fields allowed inside a `source` object.
    package static let sourceNamingFields: Set<String> = ["filename", "mimetype"]

    /// Parses a step input. Throws `IngestError(.invalidInput)` with a message naming the field.
    package static func parse(_ input: JSONValue?) throws(IngestError) -> IngestInput {
        guard let input, case .object(let object) = input else {
            throw IngestError(.invalidInput, "the input must be an object with a \"source\" field, got \(input?.kindDescription ?? "nothing")")
        }
        let unknown = Set(object.keys).subtracting(topLevelFields).sorted()
        if !unknown.isEmpty {
            throw IngestError(.invalidInput, "unknown input field(s) \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")); accepted: \(topLevelFields.sorted().joined(separator: ", "))")
        }
        guard let rawSource = object["source"], !rawSource.isNull else {
            throw IngestError(.invalidInput, "\"source\" is required: a path, an http(s) URL, or an object with one of url, path, base64 (with filename), blob_id")
        }
        let parsed = try parseSource(rawSource, field: "source", allowBlob: true)
        var result = IngestInput(source: parsed.source, sourceFilename: parsed.filename, sourceMimetype: parsed.mimetype)
        result.filename = try string(object, "filename")
        result.index = try string(object, "index")
        result.owner = try string(object, "owner")
        result.ownerName = try string(object, "owner_name")
        result.ownerEmail = try string(object, "owner_email")
        result.connectorType = try string(object, "connector_type")
        result.mimetype = try string(object, "mimetype")
        if let options = object["options"], !options.isNull {
            guard case .object(let optionFields) = options else {
                throw IngestError(.invalidInput, "\"options\" must be an object with max_tokens and/or docling, got \(options.kindDescription)")
            }
            let unknownOptions = Set(optionFields.keys).subtracting(["max_tokens", "docling"]).sorted()
            if !unknownOptions.isEmpty {
                throw IngestError(.invalidInput, "unknown option(s) \(unknownOptions.map { "\"\($0)\"" }.joined(separator: ", ")); accepted: max_tokens, docling")
            }
            if let maxTokens = optionFields["max_tokens"], !maxTokens.isNull {
                guard let value = maxTokens.intValue, value > 0 else {
                    throw IngestError(.invalidInput, "\"options.max_tokens\" must be a positive whole number, got \(maxTokens.jsonString())")
                }
                result.maxTokens = value
            }
            if let docling = optionFields["docling"], !docling.isNull {
                guard case .object(let doclingFields) = docling else {
                    throw IngestError(.invalidInput, "\"options.docling\" must be an object of Docling convert options, got \(docling.kindDescription)")
                }
                result.doclingOptions = doclingFields
            }
        }
        if case .inline(nil, _) = result.source, result.filename == nil {
            throw IngestError(.invalidInput, "base64 content needs a \"filename\" (in \"source\" or beside it) so Docling knows the format, e.g. \"report.pdf\"")
        }
        return result
    }

    /// Parses the content of a Stepflow blob: a value of the same shape as `source`, except that a
    /// blob may not point at another blob.
    package static func parseBlobContent(_ data: JSONValue, blobID: String) throws(IngestError) -> (source: Source, filename: String?, mimetype: String?) {
        do {
            return try parseSource(data, field: "blob \(blobID)", allowBlob: false)
        } catch {
            throw IngestError(.invalidInput, "\(error.message) (the blob must hold what \"source\" may hold: a path, a URL, or an object with url, path or base64 and filename)")
        }
    }

    /// Builds the pipeline request. `source` must not be a blob any more.
    package func request(source resolved: Source, sourceFilename: String?, sourceMimetype: String?) throws(IngestError) -> IngestRequest {
        let input: DocumentInput
        let name = filename ?? sourceFilename
        switch resolved {
        case .path(let path): input = .path(path)
        case .url(let url): input = .url(url)
        case .inline(let inlineName, let bytes):
            guard let inlineName = inlineName ?? name else {
                throw IngestError(.invalidInput, "inline content needs a \"filename\" so Docling knows the format, e.g. \"report.pdf\"")
            }
            input = .inline(filename: inlineName, bytes: bytes)
        case .blob(let id):
            throw IngestError(.invalidInput, "blob \(id) points at another blob; store the document itself")
        }
        return IngestRequest(
            input: input,
            filename: name,
            index: index,
            owner: owner,
            ownerName: ownerName,
            ownerEmail: ownerEmail,
            connectorType: connectorType,
            mimetype: mimetype ?? sourceMimetype,
            maxTokens: maxTokens,
            doclingOptions: doclingOptions
        )
    }

    /// A short, log-safe name of the source for messages: the path or URL (credentials removed),
    /// the file name of inline content, or the blob id. Never the content.
    package static func describe(_ source: Source, filename: String?) -> String {
        switch source {
        case .path(let path): path
        case .url(let url): redactingCredentials(url)
        case .inline(let name, let bytes): "\(name ?? filename ?? "inline document") (\(bytes.count) bytes, base64)"
        case .blob(let id): "blob \(id)"
        }
    }

    // MARK: - Fields

    private static func parseSource(_ value: JSONValue, field: String, allowBlob: Bool) throws(IngestError) -> (source: Source, filename: String?, mimetype: String?) {
        switch value {
        case .string(let text):
            return (try sourceFromString(text, field: field), nil, nil)
        case .object(let object):
            let kinds = sourceKinds.filter { allowBlob || $0 != "blob_id" }
            let present = kinds.filter { object[$0] != nil && object[$0] != .null }
            let unknown = Set(object.keys).subtracting(sourceKinds).subtracting(sourceNamingFields).sorted()
            if !unknown.isEmpty {
                throw IngestError(.invalidInput, "\"\(field)\" has unknown field(s) \(unknown.map { "\"\($0)\"" }.joined(separator: ", ")); use exactly one of \(kinds.joined(separator: ", ")), plus optional filename, mimetype")
            }
            guard present.count == 1, let kind = present.first else {
                let found = present.isEmpty ? "none" : present.joined(separator: " and ")
                throw IngestError(.invalidInput, "\"\(field)\" must have exactly one of \(kinds.joined(separator: ", ")); found \(found)")
            }
            let filename = try string(object, "filename", prefix: "\(field).")
            let mimetype = try string(object, "mimetype", prefix: "\(field).")
            guard case .string(let text) = object[kind] ?? .null, !text.isEmpty else {
                throw IngestError(.invalidInput, "\"\(field).\(kind)\" must be a non-empty string, got \(object[kind]?.kindDescription ?? "nothing")")
            }
            switch kind {
            case "url":
                guard isHTTPURL(text) else {
                    throw IngestError(.invalidInput, "\"\(field).url\" must be an http:// or https:// URL, got '\(redactingCredentials(text))'")
                }
                return (.url(text), filename, mimetype)
            case "path":
                return (.path(text), filename, mimetype)
            case "base64":
                let compact = text.filter { !$0.isWhitespace }
                guard let bytes = Data(base64Encoded: compact) else {
                    throw IngestError(.invalidInput, "\"\(field).base64\" is not valid base64 (standard alphabet, with padding)")
                }
                guard !bytes.isEmpty else {
                    throw IngestError(.invalidInput, "\"\(field).base64\" decodes to an empty document")
                }
                return (.inline(filename: filename, bytes: bytes), filename, mimetype)
            default:
                guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                    throw IngestError(.invalidInput, "\"\(field).blob_id\" must be a blob id as returned by /builtin/put_blob (hex), got '\(text.prefix(80))'")
                }
                return (.blob(id: text), filename, mimetype)
            }
        default:
            throw IngestError(.invalidInput, "\"\(field)\" must be a path, an http(s) URL, or an object with one of url, path, base64, blob_id; got \(value.kindDescription)")
        }
    }

    private static func sourceFromString(_ text: String, field: String) throws(IngestError) -> Source {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw IngestError(.invalidInput, "\"\(field)\" is empty; give a path or an http(s) URL")
        }
        if isHTTPURL(trimmed) { return .url(trimmed) }
        if let schemeEnd = trimmed.range(of: "://"),
            trimmed[..<schemeEnd.lowerBound].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) })
        {
            let scheme = trimmed[..<schemeEnd.lowerBound]
            throw IngestError(.invalidInput, "\"\(field)\" uses the unsupported scheme '\(scheme)://'; give a local path, an http(s) URL, base64 content or a blob_id")
        }
        return .path(trimmed)
    }

    private static func isHTTPURL(_ text: String) -> Bool {
        let lower = text.lowercased()
        guard lower.hasPrefix("http://") || lower.hasPrefix("https://") else { return false }
        guard let url = URL(string: text), let host = url.host, !host.isEmpty else { return false }
        return true
    }

    private static func string(_ object: [String: JSONValue], _ key: String, prefix: String = "") throws(IngestError) -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard case .string(let text) = value else {
            throw IngestError(.invalidInput, "\"\(prefix)\(key)\" must be a string, got \(value.kindDescription)")
        }
        return text.isEmpty ? nil : text
    }
}
