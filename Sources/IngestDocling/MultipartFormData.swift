import Foundation
import IngestKit

/// A `multipart/form-data` body built by hand (RFC 7578): Docling's file endpoints take the
/// document as a `files` part and every option as a form field, arrays as repeated fields.
package struct MultipartFormData: Sendable {
    /// The part separator (also in ``contentType``).
    package let boundary: String
    /// The body so far: form text, and each file's bytes as a part of their own (not copied).
    private var parts: [Data] = [Data()]

    /// - Parameter boundary: must not occur in any part; random by default.
    package init(boundary: String = "ingest-" + UUID().uuidString) {
        self.boundary = boundary
    }

    /// The `Content-Type` header value that goes with the body.
    package var contentType: String { "multipart/form-data; boundary=\(boundary)" }

    /// Appends a text field.
    package mutating func addField(_ name: String, _ value: String) {
        appendBoundary()
        append("Content-Disposition: form-data; name=\"\(Self.quoted(name))\"\r\n\r\n")
        append(value)
        append("\r\n")
    }

    /// Appends a file part. `data` becomes a part of the body as it is: the document is not
    /// copied into the body, the transport sends it from the caller's bytes.
    package mutating func addFile(_ name: String, filename: String, contentType: String, data: Data) {
        appendBoundary()
        append("Content-Disposition: form-data; name=\"\(Self.quoted(name))\"; filename=\"\(Self.quoted(filename))\"\r\n")
        append("Content-Type: \(contentType)\r\n\r\n")
        parts.append(data)
        parts.append(Data("\r\n".utf8))
    }

    /// Appends Docling option `name` with `value`: arrays become repeated fields, booleans
    /// `true`/`false`, numbers their text, objects compact JSON text; null is left out.
    package mutating func addOption(_ name: String, _ value: JSONValue) {
        switch value {
        case .null: return
        case .array(let items):
            for item in items where !item.isNull { addField(name, Self.text(item)) }
        default:
            addField(name, Self.text(value))
        }
    }

    /// The finished body, closing boundary included, as the parts to send one after the other
    /// (``HTTPRequest/bodyParts``). The form is empty afterwards.
    package mutating func finalize() -> [Data] {
        append("--\(boundary)--\r\n")
        defer { parts = [Data()] }
        return parts
    }

    private static func text(_ value: JSONValue) -> String {
        switch value {
        case .string(let text): text
        case .bool(let flag): flag ? "true" : "false"
        case .int(let number): String(number)
        case .double(let number): number == number.rounded() && abs(number) < 1e15 ? String(Int(number)) : String(number)
        case .null: ""
        case .array, .object: value.jsonString()
        }
    }

    /// Escapes a name for a quoted header parameter the way browsers do (HTML's form encoding).
    private static func quoted(_ text: String) -> String {
        text.replacingOccurrences(of: "\r", with: "%0D")
            .replacingOccurrences(of: "\n", with: "%0A")
            .replacingOccurrences(of: "\"", with: "%22")
    }

    private mutating func appendBoundary() { append("--\(boundary)\r\n") }
    private mutating func append(_ text: String) { parts[parts.count - 1].append(contentsOf: text.utf8) }
}
