import Foundation
import IngestKit

extension OpenSearchIndex {
    /// Writes `records` with `_bulk` `index` actions, in requests bounded by
    /// OPENSEARCH_BULK_MAX_BYTES and OPENSEARCH_BULK_MAX_DOCS, one request at a time.
    ///
    /// * Items refused with 429/5xx are re-sent (only those, in their order) after back-off.
    /// * A whole request refused with 429/502/503/504 or lost on the way is re-sent as is
    ///   (safe: every `_id` is deterministic, so a replay overwrites).
    /// * 413 splits the request in halves, down to one document.
    /// * The first request with a permanently refused item stops the write: the error names that
    ///   `_id` and the reason; items indexed before stay (bulk is not transactional), and later
    ///   requests are not sent, because the document has failed anyway.
    /// * With `refresh`, the request(s) of the last batch carry `refresh=wait_for`, so when this
    ///   returns the chunks are searchable.
    package func write(index: String, records: [ChunkRecord], refresh: Bool) async throws {
        let path = try Self.indexPath(index)
        var batcher = BulkBatcher(maxBytes: configuration.bulkMaxBytes, maxItems: configuration.bulkMaxItems)
        var vectorFields: [String: String] = [:]
        // Serialise lazily, one batch at a time, so a huge document is never held twice in memory.
        for (position, record) in records.enumerated() {
            let identity = record.space.fieldIdentity
            let vectorField = vectorFields[identity] ?? Self.vectorFieldName(forModel: identity)
            vectorFields[identity] = vectorField
            if let full = batcher.add(try BulkEntry(record: record, vectorField: vectorField, position: position)) {
                try await sendBatch(full, path: path, index: index, refresh: false)
            }
        }
        if let last = batcher.finish() {
            try await sendBatch(last, path: path, index: index, refresh: refresh)
        }
    }

    /// What one `_bulk` attempt leaves to do.
    enum BulkStep {
        case done
        /// Re-send these entries after back-off; `error` (transient) is what to throw when retries run out.
        case retry([BulkEntry], IngestError)
        /// 413: the body is too large for the cluster.
        case split
    }

    /// Sends one batch until every item is indexed, retrying (under ``withRetries(_:clock:jitter:sleep:isolation:operation:)``,
    /// only what is left each time) and splitting as needed.
    func sendBatch(_ entries: [BulkEntry], path: String, index: String, refresh: Bool) async throws {
        var pending = entries
        var attempt = 0
        let tooLarge = try await withRetries(configuration.retry) { () async throws -> Bool in
            attempt += 1
            switch try await attemptBulk(pending, path: path, index: index, refresh: refresh, attempt: attempt) {
            case .done: return false
            case .split: return true
            case .retry(let left, let error):
                pending = left
                throw error
            }
        }
        guard tooLarge else { return }
        guard pending.count > 1 else {
            let entry = pending.first
            throw IngestError(.indexRejected, "chunk '\(entry?.id ?? "?")' (\(entry?.lines.count ?? 0) bytes with its vector) is larger than index '\(index)' accepts in one request (HTTP 413); raise http.max_content_length on the cluster, or use a smaller INGEST_MAX_TOKENS", itemIndex: entry?.position)
        }
        let half = pending.count / 2
        try await sendBatch(Array(pending[..<half]), path: path, index: index, refresh: false)
        try await sendBatch(Array(pending[half...]), path: path, index: index, refresh: refresh)
    }

    /// One `_bulk` request for `pending`, its answer sorted.
    func attemptBulk(_ pending: [BulkEntry], path: String, index: String, refresh: Bool, attempt: Int) async throws -> BulkStep {
        var query = [("filter_path", "took,errors,items.*.error,items.*._id,items.*.status")]
        if refresh { query.append(("refresh", "wait_for")) }
        var body = Data(capacity: pending.reduce(0) { $0 + $1.lines.count })
        for entry in pending { body.append(entry.lines) }

        let response: HTTPResponse
        do {
            response = try await send("POST", path + "/_bulk", query: query, body: body, contentType: "application/x-ndjson")
        } catch let error as IngestError where error.isTransient {
            return .retry(pending, error)
        }
        switch response.status {
        case 200..<300:
            let outcome = try BulkOutcome.classify(Self.parse(response, what: "the _bulk request"), sent: pending.count)
            if let first = outcome.rejected.first {
                let entry = pending[first.position]
                let others = outcome.rejected.count - 1
                throw IngestError(
                    .indexRejected,
                    "index '\(index)' rejected chunk '\(entry.id)' (HTTP \(first.status): \(first.reason))"
                        + (others > 0 ? "; \(others) more chunk\(others == 1 ? "" : "s") of the same request too" : "")
                        + ". Check that the index mapping matches `ingest schema` (or use another index), then ingest the document again",
                    itemIndex: entry.position
                )
            }
            guard let sample = outcome.retry.first else { return .done }
            let error = IngestError(
                .serviceUnavailable,
                "OpenSearch kept refusing \(outcome.retry.count) of \(pending.count) chunks for index '\(index)' (HTTP \(sample.status): \(sample.reason)) after \(attempt) attempts; the cluster is overloaded: lower the ingest concurrency or retry later",
                transient: true
            )
            return .retry(outcome.retry.map { pending[$0.position] }, error)
        case 413:
            return .split
        case 400:
            throw IngestError(.internalError, "OpenSearch refused a _bulk request for index '\(index)' as malformed (HTTP 400: \(Self.errorText(response))); this is a bug in ingest, please report it")
        default:
            let error = requestError(response, method: "POST", path: path + "/_bulk", what: "writing \(pending.count) chunks to index '\(index)'")
            guard error.isTransient else { throw error }
            return .retry(pending, error)
        }
    }
}
