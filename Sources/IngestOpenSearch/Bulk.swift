import Foundation
import IngestChunking
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
    /// of a deterministic `_id` is an overwrite, so re-sending is always safe).
    /// - Parameter vectorField: the record's vector field (``OpenSearchIndex/vectorFieldName(for:)``
    ///   of its space), named once per write by the caller.
    /// - Throws: ``IngestError`` `index_rejected` for an empty or over-long `_id`; `embed_failed`
    ///   for a NaN or infinite vector component (JSON cannot carry them).
    package init(record: ChunkRecord, vectorField: String, position: Int) throws {
        try self.init(id: record.id, fields: ChunkField.fields(of: record), vector: (vectorField, record.vector), position: position)
    }

    /// Serialises a `_source` of `fields` plus, when given, a vector field written straight from
    /// its Floats (each in Float's shortest round-trip form), keys sorted.
    package init(id: String, fields: [String: JSONValue], vector: (field: String, values: [Float])?, position: Int) throws {
        let idBytes = id.utf8.count
        guard idBytes > 0, idBytes <= 512 else {
            throw IngestError(.indexRejected, "chunk id '\(id.prefix(80))' is \(idBytes) bytes; OpenSearch ids must be 1 to 512 bytes (a bug in how ingest builds ids, please report it)", itemIndex: position)
        }
        var out: [UInt8] = []
        out.reserveCapacity(256 + fields.count * 32 + (vector?.values.count ?? 0) * 12)
        out.append(contentsOf: #"{"index":{"_id":"#.utf8)
        JSONStringLiteral.append(id, to: &out)
        out.append(contentsOf: "}}\n".utf8)
        var keys = Array(fields.keys)
        if let vector { keys.append(vector.field) }
        out.append(UInt8(ascii: "{"))
        for (i, key) in keys.sorted().enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            JSONStringLiteral.append(key, to: &out)
            out.append(UInt8(ascii: ":"))
            if let vector, key == vector.field {
                guard vector.values.allSatisfy(\.isFinite) else {
                    throw IngestError(.embedFailed, "the vector of chunk '\(id)' holds NaN or infinity (\(key)); the embeddings service returned an unusable vector, try again or check the model", itemIndex: position)
                }
                NDJSON.appendFloats(vector.values, to: &out)
            } else {
                do {
                    // Non-nil: `key` comes from `fields.keys`.
                    try NDJSON.append(fields[key] ?? .null, to: &out, path: key)
                } catch let error as NDJSON.NonFiniteNumber {
                    throw IngestError(.internalError, "field \(error.path) of chunk '\(id)' is NaN or infinity, which JSON cannot carry (a bug in ingest, please report it)", itemIndex: position)
                }
            }
        }
        out.append(contentsOf: "}\n".utf8)
        self.init(position: position, id: id, lines: Data(out))
    }
}

/// Compact JSON for NDJSON lines: one line, sorted keys, and numbers that fit a `Float` written in
/// Float's shortest round-trip form (`0.1`, not `0.10000000149011612`): vectors are float32 on
/// the server anyway, and the body is about 40 % smaller.
package enum NDJSON {
    /// A NaN or infinity at `path` (JSON has no spelling for them).
    package struct NonFiniteNumber: Error { package var path: String }

    /// Appends `value` as compact JSON.
    package static func append(_ value: JSONValue, to out: inout [UInt8], path: String) throws {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let b): out.append(contentsOf: (b ? "true" : "false").utf8)
        case .int(let i): out.append(contentsOf: String(i).utf8)
        case .double(let d): try appendNumber(d, to: &out, path: path)
        case .string(let s): JSONStringLiteral.append(s, to: &out)
        case .array(let items):
            out.append(UInt8(ascii: "["))
            for (i, item) in items.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                try append(item, to: &out, path: path)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let fields):
            out.append(UInt8(ascii: "{"))
            for (i, key) in fields.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                JSONStringLiteral.append(key, to: &out)
                out.append(UInt8(ascii: ":"))
                // Non-nil: `key` comes from `fields.keys`.
                try append(fields[key] ?? .null, to: &out, path: path.isEmpty ? key : path + "." + key)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// The shortest text that reads back as the same Float when `value` is a Float widened to
    /// Double; Double's shortest form otherwise.
    package static func numberText(_ value: Double) -> String? {
        guard value.isFinite else { return nil }
        let float = Float(value)
        if float.isFinite, Double(float) == value { return float.description }
        return value.description
    }

    static func appendNumber(_ value: Double, to out: inout [UInt8], path: String) throws {
        guard let text = numberText(value) else { throw NonFiniteNumber(path: path) }
        out.append(contentsOf: text.utf8)
    }

    /// `[f1,f2,…]`, each Float in its shortest round-trip form; the caller checked they are finite.
    static func appendFloats(_ values: [Float], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "["))
        for (i, value) in values.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out.append(contentsOf: value.description.utf8)
        }
        out.append(UInt8(ascii: "]"))
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
