import IngestKit

/// `ingest search`: the question answered the way OpenRAG answers it, with the question embedded
/// by this process's embedder (the model that embedded the chunks), so a setup can be checked
/// end to end without OpenRAG.
///
/// 1. discover the index's embedding spaces (OpenRAG's two composite aggregations);
/// 2. embed the question once, for the spaces of our model (``HybridQuery/plan(found:ours:)``);
///    other models' chunks, or all of them when embedding fails, are found by keywords only;
/// 3. run the hybrid query; a server without `knn` queries (osmem) gets the keyword-only query
///    instead, once, as OpenRAG falls back when embedding is unavailable; a server that refuses
///    `num_candidates` gets the query without it (OpenRAG's retry).
package struct IndexSearch: Sendable {
    package var index: OpenSearchIndex
    package var embedder: any Embedder
    /// Where this process files its vectors (EMBEDDING_MODEL under EMBEDDING_PROVIDER).
    package var space: EmbeddingSpace

    package init(index: OpenSearchIndex, embedder: any Embedder, space: EmbeddingSpace) {
        self.index = index
        self.embedder = embedder
        self.space = space
    }

    /// What a search found and how it searched.
    package struct Result: Sendable {
        /// Best first.
        package var hits: [SearchHit]
        /// The vector fields the k-NN clauses queried; empty when the search ran on keywords only.
        package var vectorFields: [String]
        /// Why the search is less than OpenRAG's full hybrid query, each said once (for stderr).
        package var notes: [String]
    }

    /// Searches `indexName` for `question`, returning at most `k` hits.
    /// - Throws: ``IngestError`` `invalid_input` when the index does not exist; OpenSearch's
    ///   request errors (`auth_failed`, `service_unavailable`, …).
    package func search(_ question: String, index indexName: String, k: Int) async throws -> Result {
        var notes: [String] = []
        guard let found = try await index.embeddingSpaces(index: indexName) else {
            throw IngestError(.invalidInput, "index '\(indexName)' does not exist on \(redactingCredentials(index.baseURL)); ingest some documents into it first, or name another with --index (OPENSEARCH_INDEX)")
        }
        let plan = HybridQuery.plan(found: found.map(\.space), ours: space)
        for other in plan.skipped {
            notes.append("chunks of the embedding space '\(other.fieldIdentity)' were embedded with another model than EMBEDDING_MODEL=\(space.model): found by keywords only")
        }

        var vectors: [(field: String, vector: [Float])] = []
        if !plan.fields.isEmpty {
            do {
                let vector = try await embedder.embed([question]).first ?? []
                guard !vector.isEmpty else { throw IngestError(.embedFailed, "the embedder returned no vector for the question") }
                vectors = plan.fields.map { ($0, vector) }
            } catch let error as IngestError {
                notes.append("embedding unavailable (\(error.message)): searching by keywords only, as OpenRAG does")
            }
        }

        var answer = try await index.search(index: indexName, body: HybridQuery.body(question: question, vectors: vectors, size: k))
        if answer == .numCandidatesRefused {
            answer = try await index.search(index: indexName, body: HybridQuery.body(question: question, vectors: vectors, size: k, numCandidates: false))
        }
        switch answer {
        case .hits(let hits):
            return Result(hits: hits, vectorFields: vectors.map(\.field), notes: notes)
        case .knnRefused(let reason):
            notes.append("OpenSearch at \(redactingCredentials(index.baseURL)) does not run k-NN queries (\(reason)): searching by keywords only, as OpenRAG does when embedding is unavailable")
        case .numCandidatesRefused:
            notes.append("OpenSearch at \(redactingCredentials(index.baseURL)) refused the k-NN query with and without num_candidates: searching by keywords only")
        }
        // Keyword-only: what is left when the server refused the vectors.
        guard case .hits(let hits) = try await index.search(index: indexName, body: HybridQuery.body(question: question, vectors: [], size: k)) else {
            throw IngestError(.internalError, "OpenSearch refused the keyword-only search of index '\(indexName)', which has no k-NN clause")
        }
        return Result(hits: hits, vectorFields: [], notes: notes)
    }
}
