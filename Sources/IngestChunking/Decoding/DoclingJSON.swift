import Foundation

/// Why a DoclingDocument could not be read; `description` is written for a person reading a
/// terminal or a report (it says what was expected and what was found).
package struct DoclingDecodingError: Error, Sendable, CustomStringConvertible {
    /// What is wrong, for a person (the file name is added by the caller).
    package var description: String

    /// Wraps a message.
    package init(description: String) {
        self.description = description
    }
}

/// Reads DoclingDocuments in every wrapping we meet: a bare `json_content`, a whole Docling Serve
/// convert response (`{"document":{"json_content":…}}`), `{"json_content":…}`, and our captured
/// fixtures (`{"body":{"document":…}}`); each plain or gzip-compressed.
package enum DoclingJSON {
    /// Decodes the document; throws `DoclingDecodingError` saying what is wrong.
    package static func decodeDocument(from data: Data) throws -> DoclingDocument {
        let json = Gzip.isCompressed(data) ? try Gzip.decompress(data) : data
        guard !json.isEmpty else { throw DoclingDecodingError(description: "the input is empty") }
        // Fast path first; anything it does not take (another wrapper, an error in the input)
        // goes through JSONDecoder, which also writes the better error message.
        if let document = json.withUnsafeBytes({ raw in
            try? DoclingFastReader.read(raw.bindMemory(to: UInt8.self))
        }) {
            return document
        }
        return try decodeWithJSONDecoder(json)
    }

    /// The fast reader alone (no fallback): for tests that must know which path decoded.
    package static func decodeFast(_ data: Data) throws -> DoclingDocument {
        let json = Gzip.isCompressed(data) ? try Gzip.decompress(data) : data
        return try json.withUnsafeBytes { raw in try DoclingFastReader.read(raw.bindMemory(to: UInt8.self)) }
    }

    /// The reference decoder (`Decodable` conformances of the model).
    package static func decodeWithJSONDecoder(_ data: Data) throws -> DoclingDocument {
        let json = Gzip.isCompressed(data) ? try Gzip.decompress(data) : data
        guard !json.isEmpty else { throw DoclingDecodingError(description: "the input is empty") }
        do {
            return try JSONDecoder().decode(Envelope.self, from: json).document
        } catch let error as DoclingDecodingError {
            throw error
        } catch let error as DecodingError {
            throw DoclingDecodingError(description: describe(error))
        } catch {
            throw DoclingDecodingError(description: "not valid JSON: \(error)")
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map(String.init) ?? $0.stringValue }
            return keys.isEmpty ? "" : " at \(keys.joined(separator: "."))"
        }
        switch error {
        case .dataCorrupted(let context):
            let underlying = context.underlyingError.map { ": \($0)" } ?? ""
            return "not valid JSON\(path(context))\(underlying)"
        case .typeMismatch(let type, let context):
            return "unexpected value\(path(context)): expected \(type) (\(context.debugDescription))"
        case .valueNotFound(let type, let context):
            return "missing value\(path(context)): expected \(type)"
        case .keyNotFound(let key, let context):
            return "missing key \"\(key.stringValue)\"\(path(context))"
        @unknown default:
            return "\(error)"
        }
    }

    /// Finds the DoclingDocument inside whatever wraps it.
    private struct Envelope: Decodable {
        var document: DoclingDocument

        private struct Key: CodingKey {
            var stringValue: String
            var intValue: Int? { nil }
            init(_ string: String) { stringValue = string }
            init?(stringValue: String) { self.stringValue = stringValue }
            init?(intValue: Int) { nil }
        }

        init(from decoder: any Decoder) throws {
            guard let c = try? decoder.container(keyedBy: Key.self) else {
                throw DoclingDecodingError(description: "expected a JSON object (a DoclingDocument or a Docling Serve convert response)")
            }
            let jsonContent = Key("json_content")
            if c.contains(jsonContent) {
                if try c.decodeNil(forKey: jsonContent) {
                    throw DoclingDecodingError(description: "\"json_content\" is null: no JSON document in this response (the conversion failed, or to_formats did not include \"json\")")
                }
                document = try c.decode(DoclingDocument.self, forKey: jsonContent)
                return
            }
            // A DoclingDocument has `schema_name` and item arrays; its `body` is the tree root.
            if c.contains(Key("schema_name")) || c.contains(Key("texts")) || c.contains(Key("groups")) {
                document = try DoclingDocument(from: decoder)
                return
            }
            for wrapper in ["document", "body"] where c.contains(Key(wrapper)) {
                if try c.decodeNil(forKey: Key(wrapper)) { continue }
                document = try c.decode(Envelope.self, forKey: Key(wrapper)).document
                return
            }
            if c.contains(Key("status")) || c.contains(Key("errors")) {
                throw DoclingDecodingError(description: "a convert response without a document (conversion failed or returned no JSON)")
            }
            let keys = c.allKeys.prefix(8).map(\.stringValue).joined(separator: ", ")
            throw DoclingDecodingError(description: "not a DoclingDocument: no \"json_content\", \"document\" or \"texts\" key (found: \(keys))")
        }
    }
}
