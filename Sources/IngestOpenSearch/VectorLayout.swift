import IngestKit

/// How a space's chunks are laid out in the index and what OpenRAG needs configured to query
/// them by meaning: the lines `ingest schema` and `ingest doctor` print (README, "Vector layouts
/// and OpenRAG"). Pure, so the wording is tested once.
///
/// What OpenRAG does, read from langflow-ai/openrag (`src/services/search_service.py`, the
/// embedding-spaces version; `src/utils/embedding_fields.py` at
/// 17dde4f15911c288636bdecd8b5374197c5d835b): chunks without `embedding_space_id` are "legacy";
/// their query is embedded only when the model resolves to a provider, built in only for
/// `text-embedding-3-small` → `openai`, otherwise through `knowledge.legacy_embedding_provider_map`
/// (environment OPENRAG_LEGACY_EMBEDDING_PROVIDER_MAP); a space id is embedded through the
/// provider it names. Either way a model that cannot be embedded leaves its chunks to keyword
/// search, with an `embedding_unavailable` warning.
package enum VectorLayout {
    /// The legacy model OpenRAG routes without any setting.
    package static let builtInLegacyModels: [String: String] = ["text-embedding-3-small": "openai"]

    /// One line naming the layout, its fields and its vector field.
    package static func summary(_ space: EmbeddingSpace) -> String {
        let field = OpenSearchIndex.vectorFieldName(for: space)
        if let id = space.spaceID, let provider = space.provider {
            return "embedding space '\(id)': embedding_provider=\(provider), embedding_space_id=\(id), vectors in \(field)"
        }
        return "legacy (EMBEDDING_PROVIDER unset): embedding_model=\(space.model), no embedding_space_id, vectors in \(field)"
    }

    /// What OpenRAG (and Langflow) need to find these vectors by meaning.
    package static func openRAGSetting(_ space: EmbeddingSpace) -> String {
        if let provider = space.provider {
            return "OpenRAG embeds queries for this space through its provider '\(provider)', which must be configured and serve '\(space.model)' (the in-process all-MiniLM-L6-v2 needs an OpenAI-compatible server that gives the same vectors); Langflow's older OpenSearch component derives the field from embedding_model alone and does not read it"
        }
        if let provider = builtInLegacyModels[space.model] {
            return "OpenRAG routes the legacy model '\(space.model)' to its '\(provider)' provider by default; Langflow's OpenSearch component reads it with embedding model '\(space.model)'"
        }
        return "OpenRAG embeds queries for the legacy model '\(space.model)' only when knowledge.legacy_embedding_provider_map (OPENRAG_LEGACY_EMBEDDING_PROVIDER_MAP) maps it to a provider, e.g. {\"\(space.model)\": \"openai_like\"}; otherwise it finds these chunks by keywords only. Langflow's OpenSearch component reads it with embedding model '\(space.model)'. Or set EMBEDDING_PROVIDER to file the vectors in an OpenRAG embedding space"
    }
}
