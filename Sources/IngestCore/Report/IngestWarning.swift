/// A remark on a document that did not stop it: what the outcome's `warnings` and the report
/// list. After swift-openapi-generator's `Diagnostic` ("note it and carry on", as opposed to a
/// thrown ``IngestError``), without its severities: every one here is a warning.
///
/// Each kind is made by one factory, so its wording lives in one place; on the wire it is the
/// bare message string, as before it had a type.
package struct IngestWarning: Sendable, Hashable, Codable, CustomStringConvertible {
    /// The text a person reads, and what is encoded.
    package let message: String

    /// A warning read back from its text (a decoded outcome, a test's expectation).
    package init(_ message: String) { self.message = message }

    package var description: String { message }

    /// Docling converted only some pages or parts (`partial_success`).
    package static let partialConversion = IngestWarning("docling converted the document only partially (partial_success)")

    /// One of Docling's own remarks on the conversion (a page it could not parse, …).
    package static func docling(_ remark: String) -> IngestWarning { IngestWarning("docling: \(remark)") }

    /// The embeddings service refused a chunk of `budget` tokens as too long; the document was
    /// chunked again at `smaller`.
    package static func rechunked(refusedAt budget: Int, retriedAt smaller: Int) -> IngestWarning {
        IngestWarning("the embeddings service refused a chunk as too long at \(budget) tokens; re-chunked at \(smaller)")
    }

    /// Encoded as the bare message.
    package init(from decoder: any Decoder) throws {
        message = try decoder.singleValueContainer().decode(String.self)
    }

    package func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(message)
    }
}
