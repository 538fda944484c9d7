import IngestChunking
import IngestDocling
import IngestKit

extension IngestPipeline {
    // MARK: - Preview

    /// Converts and chunks only (no embeddings, no OpenSearch): `--preview`, through the same
    /// convert stage and chunker as an ingest.
    package func preview(_ document: SourceDocument, request: IngestRequest) async throws -> (DocumentIdentity, [Chunk], ConvertedDocument) {
        let id = identity(for: document, request: request)
        let converted = try await convert(document, request: request)
        let chunks = Self.chunk(converted, tokenizer: tokenizer, maxTokens: maxTokens(for: request))
        return (id, chunks, converted)
    }
}
