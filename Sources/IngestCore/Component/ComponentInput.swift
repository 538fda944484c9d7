import Foundation
import IngestKit

/// The `input` of an `ingest` step, parsed straight into the pipeline's ``IngestRequest``, plus
/// the one thing only a transport has: a blob to read first. Checked field by field so a flow
/// author learns exactly which field is wrong; parsing never touches the network or the disk.
package struct ComponentInput: Sendable, Equatable {
    /// A `source` that names a blob.
    package struct Blob: Sendable, Equatable {
        package var id: String
        /// `filename` / `mimetype` given beside `blob_id`; the blob's own win over them.
        package var filename: String?
        package var mimetype: String?
    }

    /// The request. While ``blob`` is set, `request.input` is a placeholder and `filename` /
    /// `mimetype` hold only the top-level fields: ``resolved(with:)`` fills them in.
    package var request: IngestRequest
    package var blob: Blob?

    /// Top-level fields accepted beside `source`.
    package static let topLevelFields: Set<String> = [
        "source", "source_key", "filename", "index", "owner", "owner_name", "owner_email", "connector_type", "mimetype", "options",
    ]
    /// Fields of a `source` object: exactly one of these, plus optional naming fields.
    package static let sourceKinds = ["url", "path", "base64", "blob_id"]
    /// Naming fields allowed inside a `source` object.
    package static let sourceNamingFields: Set<String> = ["filename", "mimetype"]

    /// A short, log-safe name of the source for messages: the path or URL (credentials removed),
    /// the file name of inline content, or the blob id. Never the content.
    package var described: String {
        if let blob { return "blob \(blob.id)" }
        switch request.input {
        case .path(let path): return path
        case .url(let url): return redactingCredentials(url)
        case .inline(let name, let bytes): return "\(name.isEmpty ? "inline document" : name) (\(bytes.count) bytes, base64)"
        }
    }

    /// Parses a step input. Throws `invalid_input` with a message naming the field.
    package static func parse(_ input: JSONValue?) throws(IngestError) -> ComponentInput {
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
        let source = try parseSource(rawSource, field: "source", allowBlob: true)
        let filename = try string(object, "filename")
        let mimetype = try string(object, "mimetype")
        var request = IngestRequest(
            input: .inline(filename: "", bytes: Data()),
            filename: filename,
            index: try string(object, "index"),
            owner: try string(object, "owner"),
            ownerName: try string(object, "owner_name"),
            ownerEmail: try string(object, "owner_email"),
            connectorType: try string(object, "connector_type"),
            mimetype: mimetype
        )
        if let index = request.index {
            try IndexName.check(index, setting: "\"index\"", reason: .invalidInput)
        }
        if let key = try string(object, "source_key") {
            guard !key.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, key.utf8.count <= 1024 else {
                throw IngestError(.invalidInput, "\"source_key\" must be a non-empty identity of at most 1,024 bytes, e.g. a connector's document id")
            }
            request.source = key
        }
        if let options = object["options"], !options.isNull {
            guard case .object(let optionFields) = options else {
                throw IngestError(.invalidInput, "\"options\" must be an object with max_tokens and/or docling, got \(options.kindDescription)")
            }
            let unknownOptions = Set(optionFields.keys).subtracting(["max_tokens", "docling"]).sorted()
            if !unknownOptions.isEmpty {
                throw IngestError(.invalidInput, "unknown option(s) \(unknownOptions.map { "\"\($0)\"" }.joined(separator: ", ")); accepted: max_tokens, docling")
            }
            if let maxTokens = optionFields["max_tokens"], !maxTokens.isNull {
                guard let value = maxTokens.intValue else {
                    throw IngestError(.invalidInput, "\"options.max_tokens\" must be a whole number, got \(maxTokens.jsonString())")
                }
                try TokenBudget.check(value, setting: "\"options.max_tokens\"", reason: .invalidInput)
                request.maxTokens = value
            }
            if let docling = optionFields["docling"], !docling.isNull {
                guard case .object(let doclingFields) = docling else {
                    throw IngestError(.invalidInput, "\"options.docling\" must be an object of Docling convert options, got \(docling.kindDescription)")
                }
                request.doclingOptions = doclingFields
            }
        }
        switch source.kind {
        case .blob(let id):
            return ComponentInput(request: request, blob: Blob(id: id, filename: source.filename, mimetype: source.mimetype))
        case .document(let document):
            if case .inline("", _) = document, filename == nil {
                throw IngestError(.invalidInput, "base64 content needs a \"filename\" (in \"source\" or beside it) so Docling knows the format, e.g. \"report.pdf\"")
            }
            var parsed = ComponentInput(request: request, blob: nil)
            try parsed.resolve(document, filename: source.filename, mimetype: source.mimetype)
            return parsed
        }
    }

    /// The request once the blob is read: `content` takes the place of `source`.
    package func resolved(with content: BlobContent) throws(IngestError) -> IngestRequest {
        guard let blob else { return request }
        var resolved = ComponentInput(request: request, blob: nil)
        switch content {
        case .json(let value):
            let parsed: ParsedSource
            do {
                parsed = try Self.parseSource(value, field: "blob \(blob.id)", allowBlob: false)
            } catch {
                throw IngestError(.invalidInput, "\(error.message) (the blob must hold what \"source\" may hold: a path, a URL, or an object with url, path or base64 and filename)")
            }
            guard case .document(let document) = parsed.kind else {
                throw IngestError(.invalidInput, "blob \(blob.id) points at another blob; store the document itself")
            }
            try resolved.resolve(document, filename: parsed.filename ?? blob.filename, mimetype: parsed.mimetype ?? blob.mimetype)
        case .raw(let bytes, let filename, let contentType):
            guard !bytes.isEmpty else {
                throw IngestError(.invalidInput, "blob \(blob.id) is empty")
            }
            try resolved.resolve(.inline(filename: "", bytes: bytes), filename: filename ?? blob.filename, mimetype: contentType ?? blob.mimetype)
        }
        return resolved.request
    }

    // MARK: - Sources

    /// A parsed `source`: a document the pipeline can load, or a blob; inline content may still
    /// lack its name.
    enum SourceKind: Equatable {
        /// Inline content whose name is not known yet has an empty file name.
        case document(DocumentInput)
        case blob(String)
    }

    struct ParsedSource {
        var kind: SourceKind
        var filename: String?
        var mimetype: String?
    }

    /// Sets `request.input` from a parsed source; the top-level `filename` and `mimetype` win
    /// over those given with the source.
    private mutating func resolve(_ document: DocumentInput, filename sourceFilename: String?, mimetype sourceMimetype: String?) throws(IngestError) {
        let name = request.filename ?? sourceFilename
        switch document {
        case .path, .url: request.input = document
        case .inline(let inlineName, let bytes):
            guard let inlineName = inlineName.isEmpty ? name : inlineName else {
                throw IngestError(.invalidInput, "inline content needs a \"filename\" so Docling knows the format, e.g. \"report.pdf\"")
            }
            request.input = .inline(filename: inlineName, bytes: bytes)
        }
        request.filename = name
        request.mimetype = request.mimetype ?? sourceMimetype
    }

    private static func parseSource(_ value: JSONValue, field: String, allowBlob: Bool) throws(IngestError) -> ParsedSource {
        switch value {
        case .string(let text):
            return ParsedSource(kind: .document(try sourceFromString(text, field: field)))
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
                guard HTTPURL(text) != nil else {
                    throw IngestError(.invalidInput, "\"\(field).url\" must be an http:// or https:// URL, got '\(redactingCredentials(text))'")
                }
                return ParsedSource(kind: .document(.url(text)), filename: filename, mimetype: mimetype)
            case "path":
                return ParsedSource(kind: .document(.path(text)), filename: filename, mimetype: mimetype)
            case "base64":
                guard let bytes = Base64.decode(text) else {
                    throw IngestError(.invalidInput, "\"\(field).base64\" is not valid base64 (standard alphabet, with padding)")
                }
                guard !bytes.isEmpty else {
                    throw IngestError(.invalidInput, "\"\(field).base64\" decodes to an empty document")
                }
                return ParsedSource(kind: .document(.inline(filename: filename ?? "", bytes: bytes)), filename: filename, mimetype: mimetype)
            default:
                guard text.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
                    throw IngestError(.invalidInput, "\"\(field).blob_id\" must be a blob id as returned by /builtin/put_blob (hex), got '\(text.prefix(80))'")
                }
                return ParsedSource(kind: .blob(text), filename: filename, mimetype: mimetype)
            }
        default:
            throw IngestError(.invalidInput, "\"\(field)\" must be a path, an http(s) URL, or an object with one of url, path, base64, blob_id; got \(value.kindDescription)")
        }
    }

    private static func sourceFromString(_ text: String, field: String) throws(IngestError) -> DocumentInput {
        let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw IngestError(.invalidInput, "\"\(field)\" is empty; give a path or an http(s) URL")
        }
        if HTTPURL(trimmed) != nil { return .url(trimmed) }
        if let schemeEnd = trimmed.range(of: "://"),
            trimmed[..<schemeEnd.lowerBound].allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "+.-".contains($0)) })
        {
            let scheme = trimmed[..<schemeEnd.lowerBound]
            throw IngestError(.invalidInput, "\"\(field)\" uses the unsupported scheme '\(scheme)://'; give a local path, an http(s) URL, base64 content or a blob_id")
        }
        return .path(trimmed)
    }

    private static func string(_ object: [String: JSONValue], _ key: String, prefix: String = "") throws(IngestError) -> String? {
        guard let value = object[key], !value.isNull else { return nil }
        guard case .string(let text) = value else {
            throw IngestError(.invalidInput, "\"\(prefix)\(key)\" must be a string, got \(value.kindDescription)")
        }
        return text.isEmpty ? nil : text
    }
}
