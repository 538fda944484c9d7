import IngestKit

extension OpenSearchIndex {
    /// Pages of space discovery read per kind (qualified, legacy) before giving up: 1,000 spaces.
    static let maxSpacePages = 10

    /// What the server made of the hybrid query.
    package enum SearchAnswer: Sendable, Equatable {
        case hits([SearchHit])
        /// The server runs no `knn` queries (osmem, a cluster without the k-NN plugin): its words.
        case knnRefused(String)
        /// The server knows `knn` but not its `num_candidates` field.
        case numCandidatesRefused
    }

    /// The embedding spaces `index` holds, as OpenRAG discovers them: the qualified ones
    /// (`embedding_space_id`), then the legacy models (chunks without one), each with its chunk
    /// count; nil when the index does not exist.
    package func embeddingSpaces(index: String) async throws -> [(space: EmbeddingSpace, chunks: Int)]? {
        let path = try Self.indexPath(index)
        var found: [(space: EmbeddingSpace, chunks: Int)] = []
        for legacy in [false, true] {
            var after: JSONValue?
            for _ in 0..<Self.maxSpacePages {
                let body = HybridQuery.spacesQuery(legacy: legacy, after: after)
                let response = try await call("POST", path + "/_search", json: body, what: "listing the embedding spaces of index '\(index)'", accept: [404])
                if response.status == 404 { return nil }
                let page = try HybridQuery.parseSpacesPage(Self.parse(response, what: "the embedding-space query"), legacy: legacy)
                for entry in page.spaces where !found.contains(where: { $0.space == entry.space }) { found.append(entry) }
                // A short page is the last one (OpenRAG stops on a missing or repeated cursor).
                guard page.buckets == HybridQuery.spacePageSize, let next = page.after, next != after else { break }
                after = next
            }
        }
        return found
    }

    /// Runs `body` (``HybridQuery/body(question:vectors:size:numCandidates:)``) on `index`.
    /// - Throws: ``IngestError`` `invalid_input` when the index does not exist; the usual
    ///   request errors otherwise.
    package func search(index: String, body: JSONValue) async throws -> SearchAnswer {
        let path = try Self.indexPath(index)
        let response = try await call("POST", path + "/_search", json: body, what: "searching index '\(index)'", accept: [400, 404])
        switch response.status {
        case 404:
            throw IngestError(.invalidInput, "index '\(index)' does not exist on \(redactingCredentials(baseURL)); ingest some documents into it first, or name another with --index (OPENSEARCH_INDEX)")
        case 400:
            let text = Self.errorText(response)
            if HybridQuery.refusesNumCandidates(text) { return .numCandidatesRefused }
            if HybridQuery.refusesKNN(text) { return .knnRefused(text) }
            throw IngestError(.internalError, "OpenSearch refused the search of index '\(index)' (HTTP 400: \(text)); compare the index mapping with `ingest schema`")
        default:
            return .hits(try HybridQuery.parseHits(Self.parse(response, what: "the search")))
        }
    }
}
