import Foundation
import IngestKit

/// Per-source leases: lock documents in `<index>__ingest_leases`, one per source (`_id` = the
/// SHA-256 of the source), written with `op_type=create` so exactly one writer gets 201 and the
/// others 409. OpenSearch has no locks of its own; a create that fails on an existing `_id` is
/// its one atomic test-and-set, and `if_seq_no`/`if_primary_term` make takeovers and releases
/// conditional on the lease being the one we read.
extension OpenSearchIndex {
    /// The suffix of the lease index; the chunk index's own name stays free for chunks only.
    package static let leaseIndexSuffix = "__ingest_leases"

    /// Rounds of create → read → take over before answering "held by someone else": each round
    /// starts over when the lease changed under us (released, or taken over by another process).
    static let leaseRounds = 4

    package static func leaseIndexName(_ index: String) -> String { index + leaseIndexSuffix }

    /// The lease index's body: the fields are only read back by `_id`, but typed so that people
    /// can query them (who holds what until when).
    package static let leaseIndexBody: JSONValue = [
        "settings": ["index": ["number_of_shards": 1, "number_of_replicas": 0]],
        "mappings": [
            "properties": [
                "source": ["type": "keyword"],
                "owner": ["type": "keyword"],
                "process": ["type": "keyword"],
                "host": ["type": "keyword"],
                "pid": ["type": "integer"],
                "pid_namespace": ["type": "keyword"],
                "acquired_at": ["type": "date"],
                "expires_at": ["type": "date"],
            ],
        ],
    ]

    package func acquireLease(index: String, source: String, owner: LeaseOwner, ttl: Duration) async throws -> Bool {
        let leaseIndex = Self.leaseIndexName(index)
        let path = try Self.indexPath(leaseIndex)
        let docPath = path + "/_doc/" + SHA256.hex(source)
        let what = "taking the lease on \(redactingCredentials(source)) in index '\(leaseIndex)'"
        try await ensureLeaseIndex(path: path, name: leaseIndex)
        for _ in 0..<Self.leaseRounds {
            let now = Date()
            let body = Self.leaseBody(source: source, owner: owner, now: now, ttl: ttl)
            let created = try await call("PUT", path + "/_create/" + SHA256.hex(source), json: body, what: what, accept: [404, 409])
            if (200..<300).contains(created.status) { return true }
            if created.status == 404 {
                // The lease index vanished (OpenSearch restarted, or someone deleted it): recreate it.
                try await ensureLeaseIndex(path: path, name: leaseIndex)
                continue
            }
            // 409: someone holds it. Ours (an earlier attempt whose answer was lost), alive, or stale?
            let current = try await call("GET", docPath, what: what, accept: [404])
            if current.status == 404 { continue }  // released meanwhile
            let lease = try Self.parseLease(Self.parse(current, what: "the lease of \(redactingCredentials(source))"))
            if lease.ownerID == owner.id { return true }
            let expired = lease.expiresAt.map { $0 <= now } ?? true
            let abandoned = lease.owner.map { owner.isAbandoned(holder: $0) } ?? false
            guard expired || abandoned, let seqNo = lease.seqNo, let term = lease.primaryTerm else { return false }
            // Conditional delete: of two processes taking over the same stale lease, one deletes
            // it and both race on the next create, which only one wins.
            _ = try await call("DELETE", docPath, query: [("if_seq_no", String(seqNo)), ("if_primary_term", String(term))], what: what, accept: [404, 409])
        }
        return false
    }

    package func renewLease(index: String, source: String, owner: LeaseOwner, ttl: Duration) async throws -> Bool {
        let leaseIndex = Self.leaseIndexName(index)
        let docPath = try Self.indexPath(leaseIndex) + "/_doc/" + SHA256.hex(source)
        let what = "renewing the lease on \(redactingCredentials(source)) in index '\(leaseIndex)'"
        let current = try await call("GET", docPath, what: what, accept: [404])
        if current.status == 404 { return false }
        let read = try Self.parse(current, what: "the lease of \(redactingCredentials(source))")
        let lease = try Self.parseLease(read)
        guard lease.ownerID == owner.id, let seqNo = lease.seqNo, let term = lease.primaryTerm else { return false }
        var body = Self.leaseBody(source: source, owner: owner, now: Date(), ttl: ttl)
        // The acquisition time stays the first one: people reading the index see how long it is held.
        if case .object(var fields) = body, let acquired = read["_source"]?["acquired_at"] {
            fields["acquired_at"] = acquired
            body = .object(fields)
        }
        // Conditional on the version just read: a takeover between the GET and this PUT makes it 409.
        let written = try await call("PUT", docPath, query: [("if_seq_no", String(seqNo)), ("if_primary_term", String(term))], json: body, what: what, accept: [404, 409])
        if written.status != 409 { return (200..<300).contains(written.status) }
        // 409: changed since the GET. Still ours means another renewal of this same acquisition
        // (the keeper's and a check before writing) won the race: renewed all the same.
        let after = try await call("GET", docPath, what: what, accept: [404])
        guard after.status != 404 else { return false }
        return try Self.parseLease(Self.parse(after, what: "the lease of \(redactingCredentials(source))")).ownerID == owner.id
    }

    package func releaseLease(index: String, source: String, owner: LeaseOwner) async throws {
        let leaseIndex = Self.leaseIndexName(index)
        let docPath = try Self.indexPath(leaseIndex) + "/_doc/" + SHA256.hex(source)
        let what = "releasing the lease on \(redactingCredentials(source)) in index '\(leaseIndex)'"
        let current = try await call("GET", docPath, what: what, accept: [404])
        if current.status == 404 { return }
        let lease = try Self.parseLease(Self.parse(current, what: "the lease of \(redactingCredentials(source))"))
        guard lease.ownerID == owner.id, let seqNo = lease.seqNo, let term = lease.primaryTerm else { return }
        _ = try await call("DELETE", docPath, query: [("if_seq_no", String(seqNo)), ("if_primary_term", String(term))], what: what, accept: [404, 409])
    }

    /// Creates the lease index when missing (`HEAD` first, so the usual case costs one cheap request).
    func ensureLeaseIndex(path: String, name: String) async throws {
        let head = try await call("HEAD", path, what: "looking for the lease index '\(name)'", accept: [404])
        guard head.status == 404 else { return }
        let created = try await call("PUT", path, json: Self.leaseIndexBody, what: "creating the lease index '\(name)'", accept: [400])
        if created.status == 400 && Self.errorType(created) != "resource_already_exists_exception" {
            throw IngestError(.configuration, "OpenSearch refused to create the lease index '\(name)' (\(Self.errorText(created))); ingest keeps one lock document per source there: grant the role indices:admin/create on it, or create it yourself")
        }
    }

    /// The lock document: who, since when, until when.
    package static func leaseBody(source: String, owner: LeaseOwner, now: Date, ttl: Duration) -> JSONValue {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return [
            "source": .string(source),
            "owner": .string(owner.id),
            "process": .string(owner.process),
            "host": .string(owner.host),
            "pid": .int(Int(owner.pid)),
            "pid_namespace": owner.pidNamespace.map(JSONValue.string) ?? .null,
            "token": .int(owner.token),
            "acquired_at": .string(formatter.string(from: now)),
            "expires_at": .string(formatter.string(from: now.addingTimeInterval(ttl.seconds))),
        ]
    }

    /// A lease as read back with `GET _doc`.
    package struct StoredLease: Sendable, Equatable {
        /// The stored `owner` (``LeaseOwner/id``).
        package var ownerID: String?
        package var owner: LeaseOwner?
        package var expiresAt: Date?
        package var seqNo: Int?
        package var primaryTerm: Int?
    }

    package static func parseLease(_ body: JSONValue) throws -> StoredLease {
        guard let source = body["_source"] else {
            throw IngestError(.internalError, "OpenSearch answered GET of a lease without its _source: \(body.jsonString().prefix(300))")
        }
        var owner: LeaseOwner?
        if let id = source["owner"]?.stringValue {
            let process = source["process"]?.stringValue ?? String(id.prefix { $0 != "#" })
            owner = LeaseOwner(process: process, host: source["host"]?.stringValue ?? "", pid: Int32(source["pid"]?.intValue ?? 0), token: source["token"]?.intValue ?? Int(id.split(separator: "#").last ?? "") ?? 0, pidNamespace: source["pid_namespace"]?.stringValue)
        }
        let expires = source["expires_at"]?.stringValue.flatMap(parseDate)
        return StoredLease(ownerID: source["owner"]?.stringValue, owner: owner, expiresAt: expires, seqNo: body["_seq_no"]?.intValue, primaryTerm: body["_primary_term"]?.intValue)
    }

    static func parseDate(_ text: String) -> Date? {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        if let date = formatter.date(from: text) { return date }
        formatter.formatOptions = [.withInternetDateTime]
        return formatter.date(from: text)
    }
}
