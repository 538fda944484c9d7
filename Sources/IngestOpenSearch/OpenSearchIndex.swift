import Foundation
import IngestKit

/// ``ChunkIndex`` over OpenSearch's REST API (2.x, 3.x, jvector-plugin clusters and the osmem
/// test server): k-NN index creation, `_bulk` writes with per-item retries, and the queries the
/// pipeline uses to decide what to write and what to delete.
///
/// A value over an ``HTTPTransport``, so unit tests run it against an in-memory fake. Every call
/// retries 429/502/503/504 and connection errors under ``OpenSearchConfiguration/retry``
/// (honouring `Retry-After`), except ``checkHealth()``, which answers at once.
package struct OpenSearchIndex: ChunkIndex {
    package let configuration: OpenSearchConfiguration
    /// `http(s)://host:port[/prefix]`, resolved once.
    package let baseURL: String
    let transport: any HTTPTransport

    /// - Throws: ``IngestError`` `configuration` for an unusable OPENSEARCH_HOST/PORT.
    package init(configuration: OpenSearchConfiguration, transport: any HTTPTransport) throws {
        self.configuration = configuration
        self.baseURL = try configuration.baseURL()
        self.transport = transport
    }

    // MARK: - Index and mapping

    package func prepare(index: String, space: EmbeddingSpace, dimension: Int) async throws {
        try await prepare(index: index, vectorField: Self.vectorFieldName(for: space), dimension: dimension, metadata: Self.fieldProperties(for: space))
    }

    /// ``prepare(index:space:dimension:)`` for a vector field named directly. An index that
    /// exists (ours, or created by another tool: OpenRAG, Langflow, an operator) gets the fields
    /// it lacks with `PUT _mapping` before anything is written, so the vector field is always a
    /// `knn_vector`, never a float array from dynamic mapping.
    func prepare(index: String, vectorField: String, dimension: Int, metadata: [String: JSONValue] = metadataProperties) async throws {
        let path = try Self.indexPath(index)
        guard (1...16_000).contains(dimension) else {
            throw IngestError(.dimensionMismatch, "the embedding model reports \(dimension)-dimensional vectors; OpenSearch k-NN fields take 1 to 16000 dimensions; check EMBEDDING_MODEL")
        }
        // A few rounds: another replica may create the index or add the field between our
        // look and our write; each round re-reads the mapping and decides again.
        var lastMappingError = "conflicting field definitions"
        for _ in 0..<configuration.mappingRounds {
            guard let mappings = try await mappingProperties(path: path, index: index) else {
                let response = try await call("PUT", path, json: Self.indexBody(vectorField: vectorField, dimension: dimension, metadata: metadata), what: "creating index '\(index)'", accept: [400])
                if response.status == 400 {
                    if Self.errorType(response) == "resource_already_exists_exception" { continue }
                    throw IngestError(.configuration, "OpenSearch refused to create index '\(index)' with the k-NN mapping (\(Self.errorText(response))); the cluster needs the k-NN (or jvector) plugin, or create the index yourself from `ingest schema`")
                }
                return
            }
            var update: JSONValue?
            for properties in mappings.values {
                let check = MappingCheck(properties: properties, vectorField: vectorField, dimension: dimension, metadata: metadata)
                if let error = check.blockingError(index: index, vectorField: vectorField, dimension: dimension) { throw error }
                if let body = check.mappingUpdate(vectorField: vectorField, dimension: dimension) {
                    update = Self.merged(update, body)
                }
            }
            guard let update else { return }
            let response = try await call("PUT", path + "/_mapping", json: update, what: "adding fields to index '\(index)'", accept: [400])
            if response.status == 400 {
                // Someone may have added the same field with another definition meanwhile:
                // the next round reads it and reports a mismatch, or adopts it.
                lastMappingError = Self.errorText(response)
                continue
            }
            return
        }
        throw IngestError(.configuration, "index '\(index)': OpenSearch refused the fields ingest needs (\(lastMappingError)); compare its mapping with `ingest schema`, or use another index (OPENSEARCH_INDEX)")
    }

    /// The `properties` of every concrete index behind `index` (an alias may name several), or
    /// nil when the index does not exist.
    func mappingProperties(path: String, index: String) async throws -> [String: [String: JSONValue]]? {
        let response = try await call("GET", path + "/_mapping", what: "reading the mapping of index '\(index)'", accept: [404])
        if response.status == 404 { return nil }
        let body = try Self.parse(response, what: "the mapping of index '\(index)'")
        guard let indices = body.objectValue else {
            throw IngestError(.internalError, "OpenSearch answered GET \(index)/_mapping with something that is not a mapping: \(response.bodySnippet())")
        }
        return indices.mapValues { $0["mappings"]?["properties"]?.objectValue ?? [:] }
    }

    // MARK: - Queries

    package func storedSource(index: String, source: String) async throws -> StoredSource {
        let path = try Self.indexPath(index)
        let response = try await call("POST", path + "/_search", json: Self.storedSourceQuery(source: source, maxGenerations: configuration.maxGenerations), what: "looking up earlier chunks of \(redactingCredentials(source)) in index '\(index)'", accept: [404])
        if response.status == 404 { return .empty }
        return try Self.parseStoredSource(Self.parse(response, what: "the stored-chunks query"))
    }

    package func deleteChunks(index: String, source: String, keepGeneration: String?) async throws -> Int {
        let path = try Self.indexPath(index)
        let body = Self.deleteQuery(source: source, keepGeneration: keepGeneration)
        let what = "deleting old chunks of \(redactingCredentials(source)) from index '\(index)'"
        var deleted = 0
        var attempt = 0
        // One retry loop for both kinds of failure: the request's, and a partial delete
        // (deleting by query is idempotent, so running it again removes what is left).
        return try await withRetries(configuration.retry) { () async throws -> Int in
            attempt += 1
            let response = try await call("POST", path + "/_delete_by_query", query: [("conflicts", "proceed"), ("refresh", "true")], json: body, what: what, accept: [404], retry: .singleAttempt)
            if response.status == 404 { return deleted }
            let result = try Self.parse(response, what: "the _delete_by_query answer")
            deleted += result["deleted"]?.intValue ?? 0
            let failures = result["failures"]?.arrayValue ?? []
            let timedOut = result["timed_out"]?.boolValue ?? false
            if failures.isEmpty && !timedOut { return deleted }
            throw IngestError(.serviceUnavailable, "OpenSearch could not finish \(what) (\(timedOut ? "timed out" : "\(failures.count) failures, first: \(BulkOutcome.describe(failures.first?["cause"] ?? failures.first))")) after \(attempt) attempts; the old chunks stay searchable until the next run", transient: true)
        }
    }

    package func sources(index: String, prefix: String) async throws -> [String] {
        let path = try Self.indexPath(index)
        var found: [String] = []
        var after: JSONValue?
        for _ in 0..<configuration.maxSourcePages {
            let response = try await call("POST", path + "/_search", json: Self.sourcesQuery(prefix: prefix, after: after, pageSize: configuration.sourcesPageSize), what: "listing the sources in index '\(index)'", accept: [404])
            if response.status == 404 { return [] }
            let page = try Self.parseSourcesPage(Self.parse(response, what: "the sources query"))
            found += page.sources
            guard let next = page.afterKey, page.sources.count == configuration.sourcesPageSize else { return found }
            after = next
        }
        throw IngestError(.invalidInput, "index '\(index)' holds more than \(configuration.maxSourcePages * configuration.sourcesPageSize) sources starting with '\(redactingCredentials(prefix))'; use a narrower directory or prefix")
    }

    package func checkHealth() async throws {
        let root = try await call("GET", "", what: "checking that OpenSearch answers", retry: RetryPolicy.singleAttempt)
        let info = try Self.parse(root, what: "the OpenSearch root endpoint")
        guard info["version"]?["number"] != nil else {
            throw IngestError(.serviceUnavailable, "\(redactingCredentials(baseURL)) does not answer like OpenSearch (no version in GET /); check OPENSEARCH_HOST and OPENSEARCH_PORT")
        }
        let health = try await call("GET", "/_cluster/health", what: "reading the cluster health", retry: RetryPolicy.singleAttempt)
        let status = try Self.parse(health, what: "the cluster health")["status"]?.stringValue
        if status == "red" {
            throw IngestError(.serviceUnavailable, "OpenSearch at \(redactingCredentials(baseURL)) reports cluster health red (a primary shard is unassigned, writes fail); fix the cluster, then try again", transient: true)
        }
    }

    // MARK: - HTTP

    /// One request, retried under `retry` while it fails transiently. Statuses in `accept`
    /// (besides 2xx) are returned to the caller; any other status becomes an ``IngestError``.
    func call(
        _ method: String,
        _ path: String,
        query: [(String, String)] = [],
        json: JSONValue? = nil,
        what: String,
        accept: Set<Int> = [],
        retry: RetryPolicy? = nil
    ) async throws -> HTTPResponse {
        let body = json?.jsonData()
        return try await withRetries(retry ?? configuration.retry) {
            let response = try await send(method, path, query: query, body: body, contentType: "application/json")
            if (200..<300).contains(response.status) || accept.contains(response.status) { return response }
            throw requestError(response, method: method, path: path, what: what)
        }
    }

    /// One attempt, with the Authorization header; transport failures get a hint at the settings.
    func send(_ method: String, _ path: String, query: [(String, String)], body: Data?, contentType: String) async throws -> HTTPResponse {
        var headers: [(name: String, value: String)] = [("Accept", "application/json")]
        if body != nil { headers.append(("Content-Type", contentType)) }
        if let authorization = configuration.authorizationHeader { headers.append(("Authorization", authorization)) }
        let url = baseURL + path + Self.queryString(query)
        do {
            return try await transport.send(HTTPRequest(method: method, url: url, headers: headers, body: body), timeout: configuration.requestTimeout)
        } catch var error as IngestError where error.reason == .serviceUnavailable {
            if error.transportFailure == .tlsHandshake {
                // Retrying cannot make an untrusted certificate trusted.
                error.isTransient = false
                error.message += "; the server's TLS certificate is not trusted (or it does not speak TLS): set OPENSEARCH_CA_CERT to the PEM file of its CA (or OPENSEARCH_VERIFY_CERTS=false, for development only), and check OPENSEARCH_USE_SSL"
            } else {
                error.message += "; check that OpenSearch is running and that OPENSEARCH_HOST, OPENSEARCH_PORT and OPENSEARCH_USE_SSL point at it"
            }
            throw error
        }
    }

    /// The error for an unexpected status: who refused what, and what to do.
    func requestError(_ response: HTTPResponse, method: String, path: String, what: String) -> IngestError {
        let url = redactingCredentials(baseURL + path)
        let detail = Self.errorText(response)
        switch response.meaning {
        case .credentialsRefused where response.status == 401:
            let hint = configuration.username == nil
                ? "the cluster requires credentials: set OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD"
                : "check OPENSEARCH_USERNAME and OPENSEARCH_PASSWORD"
            return IngestError(.authFailed, "OpenSearch at \(redactingCredentials(baseURL)) refused our credentials (HTTP 401) while \(what); \(hint)")
        case .credentialsRefused:
            return IngestError(.authFailed, "OpenSearch denied the user in OPENSEARCH_USERNAME permission for \(what) (HTTP 403: \(detail)); grant its role the index and cluster permissions listed in the README")
        case .unavailable:
            return IngestError(.serviceUnavailable, "OpenSearch is overloaded or unavailable (HTTP \(response.status) for \(method) \(url): \(detail)) while \(what); retry later", transient: true, retryAfter: response.retryAfter)
        // A failure inside the cluster, or a request it refuses, is ours to look at: not retried
        // (OpenSearch answers 5xx for shard failures that a retry repeats).
        case .serverFailed, .notFound, .tooLarge, .refused:
            return IngestError(.internalError, "OpenSearch answered HTTP \(response.status) to \(method) \(url) while \(what): \(detail)")
        }
    }

    // MARK: - Pure helpers

    /// `/<index>` with the name checked (``IndexName``) and percent-encoded.
    /// - Throws: ``IngestError`` `invalid_input` for a name OpenSearch would refuse.
    package static func indexPath(_ index: String) throws -> String {
        try IndexName.check(index, setting: "OPENSEARCH_INDEX or the request's index", reason: .invalidInput)
        return "/" + (index.addingPercentEncoding(withAllowedCharacters: .alphanumerics.union(CharacterSet(charactersIn: "-_.+"))) ?? index)
    }

    static func queryString(_ query: [(String, String)]) -> String {
        guard !query.isEmpty else { return "" }
        let allowed = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "-_.*,"))
        return "?" + query.map { "\($0.0)=\($0.1.addingPercentEncoding(withAllowedCharacters: allowed) ?? $0.1)" }.joined(separator: "&")
    }

    static func parse(_ response: HTTPResponse, what: String) throws -> JSONValue {
        do {
            return try JSONValue.parse(response.body, what: what)
        } catch {
            throw IngestError(.internalError, "OpenSearch answered \(what) (HTTP \(response.status)) with something that is not JSON: \(response.bodySnippet())")
        }
    }

    /// The `error.type` of an OpenSearch error answer.
    static func errorType(_ response: HTTPResponse) -> String? {
        (try? JSONValue.parse(response.body, what: "error"))?["error"]?["type"]?.stringValue
    }

    /// An OpenSearch error answer as one line (`type: reason`), or the start of the body.
    static func errorText(_ response: HTTPResponse) -> String {
        if let body = try? JSONValue.parse(response.body, what: "error"), let error = body["error"] {
            return BulkOutcome.describe(error)
        }
        return response.bodySnippet(limit: 200)
    }

    /// Two `{"properties": …}` bodies as one.
    static func merged(_ a: JSONValue?, _ b: JSONValue) -> JSONValue {
        var properties = a?["properties"]?.objectValue ?? [:]
        for (key, value) in b["properties"]?.objectValue ?? [:] { properties[key] = value }
        return ["properties": .object(properties)]
    }

    /// Per generation of `source`: stored chunks and the `chunk_count` they record. One request:
    /// `term` on `source`, `terms` on `generation` with a `max` sub-aggregation (real OpenSearch
    /// and osmem both answer it).
    package static func storedSourceQuery(source: String, maxGenerations: Int) -> JSONValue {
        [
            "size": 0,
            "query": ["term": [ChunkField.source: .string(source)]],
            "aggs": [
                "generations": [
                    "terms": ["field": .string(ChunkField.generation), "size": .int(maxGenerations)],
                    "aggs": [
                        "chunk_count": ["max": ["field": .string(ChunkField.chunkCount)]],
                    ],
                ],
            ],
        ]
    }

    /// Reads the answer to ``storedSourceQuery(source:maxGenerations:)``.
    package static func parseStoredSource(_ body: JSONValue) throws -> StoredSource {
        guard let buckets = body["aggregations"]?["generations"]?["buckets"]?.arrayValue else {
            throw IngestError(.internalError, "OpenSearch answered the stored-chunks query without the generations aggregation: \(body.jsonString().prefix(300))")
        }
        let generations = buckets.compactMap { bucket -> StoredSource.Generation? in
            guard let key = bucket["key"], let generation = key.stringValue ?? key.intValue.map(String.init) else { return nil }
            return StoredSource.Generation(
                generation: generation,
                storedChunks: bucket["doc_count"]?.intValue ?? 0,
                chunkCount: bucket["chunk_count"]?["value"]?.intValue ?? 0
            )
        }
        return StoredSource(generations: generations)
    }

    /// The chunks of `source`, except those of `keepGeneration`.
    package static func deleteQuery(source: String, keepGeneration: String?) -> JSONValue {
        var bool: [String: JSONValue] = ["filter": [["term": [ChunkField.source: .string(source)]]]]
        if let keepGeneration {
            bool["must_not"] = [["term": [ChunkField.generation: .string(keepGeneration)]]]
        }
        return ["query": ["bool": .object(bool)]]
    }

    /// One page of distinct `source` values starting with `prefix` (composite aggregation, so
    /// any number of sources can be listed page by page).
    package static func sourcesQuery(prefix: String, after: JSONValue?, pageSize: Int) -> JSONValue {
        var composite: [String: JSONValue] = [
            "size": .int(pageSize),
            "sources": [["source": ["terms": ["field": .string(ChunkField.source)]]]],
        ]
        if let after { composite["after"] = after }
        let query: JSONValue = prefix.isEmpty ? ["match_all": [:]] : ["prefix": [ChunkField.source: .string(prefix)]]
        return ["size": 0, "query": query, "aggs": ["sources": ["composite": .object(composite)]]]
    }

    /// Reads one page of ``sourcesQuery(prefix:after:pageSize:)``.
    package static func parseSourcesPage(_ body: JSONValue) throws -> (sources: [String], afterKey: JSONValue?) {
        guard let aggregation = body["aggregations"]?["sources"], let buckets = aggregation["buckets"]?.arrayValue else {
            throw IngestError(.internalError, "OpenSearch answered the sources query without the sources aggregation: \(body.jsonString().prefix(300))")
        }
        let sources = buckets.compactMap { $0["key"]?[ChunkField.source]?.stringValue }
        return (sources, aggregation["after_key"])
    }
}
