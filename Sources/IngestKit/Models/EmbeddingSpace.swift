/// The embedding space a chunk's vector belongs to, named as OpenRAG names it, so that its
/// retrieval embeds the query with the same model and reads the same vector field.
///
/// Two layouts (README, "Vector layouts and OpenRAG"):
/// * **legacy** (`provider` nil, today's default): only `embedding_model` is written and the
///   vector field is named after the model. Older Langflow components read it; OpenRAG treats it
///   as a "legacy" space and embeds the query only when `knowledge.legacy_embedding_provider_map`
///   maps the model to a provider.
/// * **space** (`provider` set, EMBEDDING_PROVIDER): `embedding_provider` and
///   `embedding_space_id` = `<provider>:<model>` are written too, and the vector field is named
///   after the space id, as OpenRAG's own writer does.
///
/// Read from langflow-ai/openrag `src/utils/embedding_fields.py` at
/// 17dde4f15911c288636bdecd8b5374197c5d835b (`get_embedding_space_id`, `split_embedding_space_id`)
/// and `src/services/document_index_writer.py` at 160ab4947a9f62a896bfa9f8e0801d29857ad200
/// (`_embedding_space_id`, `_build_chunk_document`).
package struct EmbeddingSpace: Sendable, Hashable {
    /// The model, recorded verbatim as `embedding_model`.
    package var model: String
    /// OpenRAG's provider key, lower case (`openai`, `openai_like`, `hosted_vllm`), or nil for
    /// the legacy layout.
    package var provider: String?

    package init(model: String, provider: String? = nil) {
        self.model = model
        self.provider = provider
    }

    /// `<provider>:<model>` (OpenRAG's `get_embedding_space_id`: provider trimmed and lower-cased,
    /// model trimmed), nil in the legacy layout.
    package var spaceID: String? {
        guard let provider else { return nil }
        let key = provider.trimmingWhitespace().lowercased()
        return key.isEmpty ? nil : key + ":" + model.trimmingWhitespace()
    }

    /// What the vector field is named after: the space id, or the model in the legacy layout
    /// (OpenRAG's `field_identity`).
    package var fieldIdentity: String { spaceID ?? model }

    /// Whether this is the legacy layout (no provider recorded).
    package var isLegacy: Bool { spaceID == nil }

    /// A space read back from an index: `<provider>:<model>` split at the first `:` as OpenRAG's
    /// `split_embedding_space_id` does; an id without a provider part is a legacy model name.
    package init(spaceID: String) {
        let value = spaceID.trimmingWhitespace()
        if let colon = value.firstIndex(of: ":"), colon != value.startIndex, value.index(after: colon) != value.endIndex {
            self.init(model: String(value[value.index(after: colon)...]), provider: value[..<colon].lowercased())
        } else {
            self.init(model: value)
        }
    }
}

extension String {
    /// Without leading and trailing spaces, tabs and newlines (Python's `str.strip()` for the
    /// names OpenRAG strips), without Foundation.
    fileprivate func trimmingWhitespace() -> String {
        let isSpace: (Character) -> Bool = { $0.isWhitespace }
        guard let first = firstIndex(where: { !isSpace($0) }), let last = lastIndex(where: { !isSpace($0) }) else { return "" }
        return String(self[first...last])
    }
}
