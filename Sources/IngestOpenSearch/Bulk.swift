import Foundation
import IngestKit

/// One document serialised for `_bulk`: its action line and source line, each ending in `\n`.
/// Serialised once, then sized, batched and (when items are refused) re-sent as is.
package struct BulkEntry: Sendable, Equatable {
    /// Position of the document in the caller's array (for ``IngestError/itemIndex``).
    package var position: Int
    package var id: String
    package var lines: Data

    package init(position: Int, id: String, lines: Data) {
        self.position = position
        self.id = id
        self.lines = lines
    }

    /// Serialises `record` as an `index` action (create or overwrite: every retry and replay
    /// of a deterministic `_id` is an overwrite, so re-sending is always safe), straight from its
    /// typed fields: the `_source` keys in sorted order (README, "Index schema"), absent optional
    /// fields left out, `page` the first of `pages`, the vector's Floats in shortest form.
    /// - Parameter vectorField: the record's vector field (``OpenSearchIndex/vectorFieldName(for:)``
    ///   of its space), named once per write by the caller.
    /// - Throws: ``IngestError`` `index_rejected` for an empty or over-long `_id`; `embed_failed`
    ///   for a NaN or infinite vector component (JSON cannot carry them).
    package init(record: ChunkRecord, vectorField: String, position: Int) throws {
        let id = record.id
        let idBytes = id.utf8.count
        guard idBytes > 0, idBytes <= 512 else {
            throw IngestError(.indexRejected, "chunk id '\(id.prefix(80))' is \(idBytes) bytes; OpenSearch ids must be 1 to 512 bytes (a bug in how ingest builds ids, please report it)", itemIndex: position)
        }
        guard record.vector.allSatisfy(\.isFinite) else {
            throw IngestError(.embedFailed, "the vector of chunk '\(id)' holds NaN or infinity (\(vectorField)); the embeddings service returned an unusable vector, try again or check the model", itemIndex: position)
        }
        var json = JSONWriter(reservingCapacity: 512 + record.text.utf8.count + record.vector.count * 12)
        json.raw(#"{"index":{"_id":"#)
        json.string(id)
        json.raw("}}\n{")
        // The fixed keys below are in sorted order; the vector's key (named per space) goes
        // where it sorts among them.
        var vectorWritten = false
        func key(_ name: String) {
            if !vectorWritten, vectorField < name {
                json.key(vectorField)
                json.floats(record.vector)
                vectorWritten = true
            }
            json.key(name)
        }
        key(ChunkField.chunkCount); json.int(record.chunkCount)
        key(ChunkField.chunkIndex); json.int(record.chunkIndex)
        if let v = record.connectorType { key(ChunkField.connectorType); json.string(v) }
        key(ChunkField.documentID); json.string(record.documentID)
        key(ChunkField.embeddingDimensions); json.int(record.vector.count)
        key(ChunkField.embeddingModel); json.string(record.embeddingModel)
        // The space layout only: the legacy `_source` stays byte for byte what it was.
        let space = record.space
        if let provider = space.provider, let spaceID = space.spaceID {
            key(ChunkField.embeddingProvider); json.string(provider.lowercased())
            key(ChunkField.embeddingSpaceID); json.string(spaceID)
        }
        key(ChunkField.fileSize); json.int(record.fileSize)
        key(ChunkField.filename); json.string(record.filename)
        key(ChunkField.generation); json.string(record.generation)
        key(ChunkField.headings); json.strings(record.headings)
        key(ChunkField.indexedTime); json.string(record.indexedTime)
        if let v = record.mimetype { key(ChunkField.mimetype); json.string(v) }
        if let v = record.owner { key(ChunkField.owner); json.string(v) }
        if let v = record.ownerEmail { key(ChunkField.ownerEmail); json.string(v) }
        if let v = record.ownerName { key(ChunkField.ownerName); json.string(v) }
        if let first = record.pages.first { key(ChunkField.page); json.int(first) }
        key(ChunkField.pages); json.ints(record.pages)
        key(ChunkField.source); json.string(record.source)
        key(ChunkField.text); json.string(record.text)
        if !vectorWritten {
            json.key(vectorField)
            json.floats(record.vector)
        }
        json.raw("}\n")
        self.init(position: position, id: id, lines: Data(json.bytes))
    }
}

/// Groups serialised entries into `_bulk` requests bounded by bytes and by item count: a pure
/// state machine, so the I/O loop only sends what it hands out.
package struct BulkBatcher: Sendable {
    package let maxBytes: Int
    package let maxItems: Int
    private var pending: [BulkEntry] = []
    private var pendingBytes = 0

    package init(maxBytes: Int, maxItems: Int) {
        self.maxBytes = max(1, maxBytes)
        self.maxItems = max(1, maxItems)
    }

    /// Adds `entry`; returns the batch to send first when `entry` does not fit in it. An entry
    /// larger than `maxBytes` travels alone (the server may still accept it).
    package mutating func add(_ entry: BulkEntry) -> [BulkEntry]? {
        if !pending.isEmpty, pending.count >= maxItems || pendingBytes + entry.lines.count > maxBytes {
            let full = pending
            pending = [entry]
            pendingBytes = entry.lines.count
            return full
        }
        pending.append(entry)
        pendingBytes += entry.lines.count
        return nil
    }

    /// The last batch, if anything is left.
    package mutating func finish() -> [BulkEntry]? {
        defer { pending = []; pendingBytes = 0 }
        return pending.isEmpty ? nil : pending
    }
}

/// A `_bulk` response sorted into what is done, what to re-send and what can never succeed.
package struct BulkOutcome: Sendable, Equatable {
    /// One item OpenSearch refused.
    package struct ItemError: Sendable, Equatable {
        /// Position in the request (not in the caller's documents).
        package var position: Int
        package var id: String?
        package var status: Int
        /// `type: reason (caused by type: reason)`.
        package var reason: String
    }

    /// Items refused with 429 or 5xx: re-send them, in this (the original) order.
    package var retry: [ItemError]
    /// Items refused for good (400 mapper errors, 404, 409, …).
    package var rejected: [ItemError]

    /// Sorts the items of a `_bulk` response (`filter_path=took,errors,items.*.error,items.*._id,items.*.status`).
    /// - Parameter sent: the number of documents in the request; the answer must have as many.
    /// - Throws: ``IngestError`` `internal` for an answer that is not a bulk response.
    package static func classify(_ body: JSONValue, sent: Int) throws -> BulkOutcome {
        guard let errors = body["errors"]?.boolValue else {
            throw IngestError(.internalError, "OpenSearch answered _bulk without an \"errors\" flag: \(body.jsonString().prefix(300))")
        }
        var outcome = BulkOutcome(retry: [], rejected: [])
        guard errors else { return outcome }
        guard let items = body["items"]?.arrayValue, items.count == sent else {
            throw IngestError(.internalError, "OpenSearch answered a _bulk of \(sent) documents with \(body["items"]?.arrayValue?.count ?? 0) items; cannot tell which were indexed")
        }
        for (position, item) in items.enumerated() {
            // Each item is {"<action>": {...}}.
            guard let result = item.objectValue?.values.first else { continue }
            let status = result["status"]?.intValue ?? (result["error"] == nil ? 200 : 500)
            if (200..<300).contains(status) { continue }
            let error = ItemError(position: position, id: result["_id"]?.stringValue, status: status, reason: describe(result["error"]))
            if status == 429 || status >= 500 {
                outcome.retry.append(error)
            } else {
                outcome.rejected.append(error)
            }
        }
        return outcome
    }

    /// An OpenSearch error object as one line: `type: reason (caused by type: reason)`.
    package static func describe(_ error: JSONValue?) -> String {
        guard let error else { return "no reason given" }
        if let text = error.stringValue { return text }
        func one(_ value: JSONValue) -> String {
            let type = value["type"]?.stringValue ?? "error"
            let reason = value["reason"]?.stringValue.map { ": " + $0 } ?? ""
            return type + reason
        }
        var text = one(error)
        if let cause = error["caused_by"] { text += " (caused by " + one(cause) + ")" }
        return text.count > 500 ? String(text.prefix(500)) + "…" : text
    }
}
