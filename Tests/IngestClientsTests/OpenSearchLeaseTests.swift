import Foundation
import IngestKit
import Testing

@testable import IngestOpenSearch

/// The per-source lease over the fake transport: `_create` → 201 acquired, 409 → read it and
/// take over only an expired or abandoned lease (conditional delete), release only our own.
/// The requests and answers are those osmem 0.1.6 and OpenSearch 2.x give (checked by hand
/// against osmem: `_create` 201/409, `GET _doc` with `_seq_no`/`_primary_term`, conditional
/// `DELETE` 200/409).
@Suite struct OpenSearchLeaseTests {
    static let source = "/data/a.pdf"
    static let leaseDoc = "/documents__ingest_leases/_doc/" + SHA256.hex(source)
    static let leaseCreate = "/documents__ingest_leases/_create/" + SHA256.hex(source)
    static let me = LeaseOwner(process: "me", host: "host-a", pid: 100, token: 3)
    static let stranger = LeaseOwner(process: "other", host: "host-b", pid: 200, token: 9)

    func makeIndex(_ http: FakeHTTPTransport) throws -> OpenSearchIndex {
        let retry = RetryPolicy(maxAttempts: 3, baseDelay: .zero, maxDelay: .zero, maxElapsed: .seconds(60))
        return try OpenSearchIndex(configuration: OpenSearchConfiguration(host: "http://os.test:9200", retry: retry), transport: http)
    }

    /// The `GET _doc` answer for a lease held by `owner` until `expires`.
    static func stored(_ owner: LeaseOwner, expires: Date, seqNo: Int = 5) -> FakeHTTPTransport.Reply {
        var body = OpenSearchIndex.leaseBody(source: source, owner: owner, now: Date(), ttl: .seconds(1)).objectValue ?? [:]
        let formatter = ISO8601DateFormatter()
        body["expires_at"] = .string(formatter.string(from: expires))
        let doc: JSONValue = ["_index": "documents__ingest_leases", "_id": .string(SHA256.hex(source)), "_seq_no": .int(seqNo), "_primary_term": 1, "found": true, "_source": .object(body)]
        return .json(doc.jsonString())
    }

    static let conflict = FakeHTTPTransport.Reply.json(#"{"error":{"type":"version_conflict_engine_exception","reason":"document already exists"},"status":409}"#, status: 409)

    @Test func createdMeansAcquired() async throws {
        let http = FakeHTTPTransport()
        http.on("HEAD", "/documents__ingest_leases", .status(200))
        http.on("PUT", Self.leaseCreate, .json(#"{"result":"created","_seq_no":0,"_primary_term":1}"#, status: 201))
        #expect(try await makeIndex(http).acquireLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(900)))
        let put = try #require(http.requests("PUT", Self.leaseCreate).first)
        let body = try JSONValue.parse(put.body ?? Data(), what: "lease")
        #expect(body["owner"] == .string("me#3"))
        #expect(body["source"] == .string(Self.source))
        #expect(body["pid"] == .int(100))
        let acquired = try #require(body["acquired_at"]?.stringValue.flatMap(OpenSearchIndex.parseDate))
        let expires = try #require(body["expires_at"]?.stringValue.flatMap(OpenSearchIndex.parseDate))
        #expect(abs(expires.timeIntervalSince(acquired) - 900) < 1)
    }

    @Test func missingLeaseIndexIsCreatedWithKeywordFields() async throws {
        let http = FakeHTTPTransport()
        http.on("HEAD", "/documents__ingest_leases", .status(404))
        http.on("PUT", Self.leaseCreate, .json(#"{"result":"created"}"#, status: 201))
        http.on("PUT", "/documents__ingest_leases", .json(#"{"acknowledged":true}"#))
        #expect(try await makeIndex(http).acquireLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(60)))
        let create = try #require(http.requests("PUT", "/documents__ingest_leases").first { !$0.url.contains("_create") })
        let body = try JSONValue.parse(create.body ?? Data(), what: "index")
        #expect(body["mappings"]?["properties"]?["owner"]?["type"] == "keyword")
        #expect(body["mappings"]?["properties"]?["source"]?["type"] == "keyword")
        #expect(body["mappings"]?["properties"]?["expires_at"]?["type"] == "date")
        #expect(body["settings"]?["index"]?["number_of_replicas"] == 0)
    }

    @Test func heldByALiveOwnerIsNotAcquiredAndNotTouched() async throws {
        let http = FakeHTTPTransport()
        http.on("HEAD", "/documents__ingest_leases", .status(200))
        http.on("PUT", Self.leaseCreate, Self.conflict)
        http.on("GET", Self.leaseDoc, Self.stored(Self.stranger, expires: Date().addingTimeInterval(600)))
        #expect(try await !makeIndex(http).acquireLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(60)))
        #expect(http.requests("DELETE", Self.leaseDoc).isEmpty)
    }

    @Test func expiredLeaseIsDeletedConditionallyThenCreated() async throws {
        let http = FakeHTTPTransport()
        http.on("HEAD", "/documents__ingest_leases", .status(200))
        http.on("PUT", Self.leaseCreate, Self.conflict, .json(#"{"result":"created"}"#, status: 201))
        http.on("GET", Self.leaseDoc, Self.stored(Self.stranger, expires: Date().addingTimeInterval(-5), seqNo: 17))
        http.on("DELETE", Self.leaseDoc, .json(#"{"result":"deleted"}"#))
        #expect(try await makeIndex(http).acquireLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(60)))
        let delete = try #require(http.requests("DELETE", Self.leaseDoc).first)
        #expect(delete.url.contains("if_seq_no=17") && delete.url.contains("if_primary_term=1"))
    }

    @Test func losingTheTakeoverRaceIsNotAcquired() async throws {
        // Both saw the expired lease; the other process deleted it first and created its own.
        let http = FakeHTTPTransport()
        http.on("HEAD", "/documents__ingest_leases", .status(200))
        http.on("PUT", Self.leaseCreate, Self.conflict)
        http.on("GET", Self.leaseDoc, Self.stored(Self.stranger, expires: Date().addingTimeInterval(-5)), Self.stored(Self.stranger, expires: Date().addingTimeInterval(600), seqNo: 19))
        http.on("DELETE", Self.leaseDoc, Self.conflict)
        #expect(try await !makeIndex(http).acquireLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(60)))
        #expect(http.requests("DELETE", Self.leaseDoc).count == 1)
    }

    @Test func ourOwnLeaseFromALostAnswerCountsAsAcquired() async throws {
        let http = FakeHTTPTransport()
        http.on("HEAD", "/documents__ingest_leases", .status(200))
        http.on("PUT", Self.leaseCreate, Self.conflict)
        http.on("GET", Self.leaseDoc, Self.stored(Self.me, expires: Date().addingTimeInterval(600)))
        #expect(try await makeIndex(http).acquireLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(60)))
    }

    @Test func releaseDeletesOnlyOurOwnLease() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", Self.leaseDoc, Self.stored(Self.me, expires: Date().addingTimeInterval(600), seqNo: 8))
        http.on("DELETE", Self.leaseDoc, .json(#"{"result":"deleted"}"#))
        try await makeIndex(http).releaseLease(index: "documents", source: Self.source, owner: Self.me)
        let delete = try #require(http.requests("DELETE", Self.leaseDoc).first)
        #expect(delete.url.contains("if_seq_no=8"))

        let taken = FakeHTTPTransport()
        taken.on("GET", Self.leaseDoc, Self.stored(Self.stranger, expires: Date().addingTimeInterval(600)))
        try await makeIndex(taken).releaseLease(index: "documents", source: Self.source, owner: Self.me)
        #expect(taken.requests("DELETE", Self.leaseDoc).isEmpty)

        let gone = FakeHTTPTransport()
        gone.on("GET", Self.leaseDoc, .json(#"{"found":false}"#, status: 404))
        try await makeIndex(gone).releaseLease(index: "documents", source: Self.source, owner: Self.me)
        #expect(gone.requests("DELETE", Self.leaseDoc).isEmpty)
    }

    /// Renewal (issue 21): a write of the lease document conditional on the version read, with a
    /// new expiry and the first acquisition time kept.
    @Test func renewalIsAConditionalWriteOfOurLease() async throws {
        let http = FakeHTTPTransport()
        http.on("GET", Self.leaseDoc, Self.stored(Self.me, expires: Date().addingTimeInterval(30), seqNo: 12))
        http.on("PUT", Self.leaseDoc, .json(#"{"result":"updated","_seq_no":13,"_primary_term":1}"#))
        #expect(try await makeIndex(http).renewLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(120)))
        let put = try #require(http.requests("PUT", Self.leaseDoc).first)
        #expect(put.url.contains("if_seq_no=12") && put.url.contains("if_primary_term=1"))
        let body = try JSONValue.parse(put.body ?? Data(), what: "lease")
        #expect(body["owner"] == .string("me#3"))
        let expires = try #require(body["expires_at"]?.stringValue.flatMap(OpenSearchIndex.parseDate))
        #expect(abs(expires.timeIntervalSinceNow - 120) < 5)
    }

    @Test func renewalOfALeaseTakenOverOrGoneFails() async throws {
        // Someone else's now: no write at all.
        let taken = FakeHTTPTransport()
        taken.on("GET", Self.leaseDoc, Self.stored(Self.stranger, expires: Date().addingTimeInterval(600)))
        #expect(try await !makeIndex(taken).renewLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(120)))
        #expect(taken.requests("PUT", Self.leaseDoc).isEmpty)

        let gone = FakeHTTPTransport()
        gone.on("GET", Self.leaseDoc, .json(#"{"found":false}"#, status: 404))
        #expect(try await !makeIndex(gone).renewLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(120)))

        // Taken over between the GET and the PUT: 409, and the lease is the stranger's.
        let raced = FakeHTTPTransport()
        raced.on("GET", Self.leaseDoc, Self.stored(Self.me, expires: Date().addingTimeInterval(30)), Self.stored(Self.stranger, expires: Date().addingTimeInterval(600), seqNo: 9))
        raced.on("PUT", Self.leaseDoc, Self.conflict)
        #expect(try await !makeIndex(raced).renewLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(120)))

        // 409 from our own concurrent renewal: still ours, renewed.
        let ours = FakeHTTPTransport()
        ours.on("GET", Self.leaseDoc, Self.stored(Self.me, expires: Date().addingTimeInterval(30)), Self.stored(Self.me, expires: Date().addingTimeInterval(120), seqNo: 9))
        ours.on("PUT", Self.leaseDoc, Self.conflict)
        #expect(try await makeIndex(ours).renewLease(index: "documents", source: Self.source, owner: Self.me, ttl: .seconds(120)))
    }

    @Test func abandonedOwners() {
        let me = LeaseOwner.next()
        defer { me.finished() }
        let finished = LeaseOwner.next()
        finished.finished()
        #expect(me.isAbandoned(holder: finished))
        let stillHeld = LeaseOwner.next()
        defer { stillHeld.finished() }
        #expect(!me.isAbandoned(holder: stillHeld))
        let ours = LeaseOwner.thisPIDNamespace
        #expect(ours?.hasPrefix("pid:[") == true, "Linux names the PID namespace in /proc/self/ns/pid")
        #expect(me.isAbandoned(holder: LeaseOwner(process: "gone", host: LeaseOwner.thisHost, pid: Int32.max, token: 1, pidNamespace: ours)))
        #expect(me.isAbandoned(holder: LeaseOwner(process: "gone", host: LeaseOwner.thisHost, pid: me.pid, token: 1, pidNamespace: ours)))
        #expect(!me.isAbandoned(holder: LeaseOwner(process: "init", host: LeaseOwner.thisHost, pid: 1, token: 1, pidNamespace: ours)))
        #expect(!me.isAbandoned(holder: LeaseOwner(process: "far", host: "another-host", pid: Int32.max, token: 1, pidNamespace: ours)))
    }

    /// Containers sharing a host name and boot id (`hostNetwork` pods, `docker --network host`)
    /// each run ingest as PID 1: a pid is only compared inside our own PID namespace, and a lease
    /// that names none (written before it was stored) waits for its expiry.
    @Test func pidsCompareOnlyInsideOurPIDNamespace() {
        let me = LeaseOwner.next()
        defer { me.finished() }
        let elsewhere = LeaseOwner(process: "container-b", host: LeaseOwner.thisHost, pid: me.pid, token: 1, pidNamespace: "pid:[1]")
        #expect(!me.isAbandoned(holder: elsewhere), "another namespace's PID equal to ours is another, live process")
        #expect(!me.isAbandoned(holder: LeaseOwner(process: "gone", host: LeaseOwner.thisHost, pid: Int32.max, token: 1, pidNamespace: "pid:[1]")))
        #expect(!me.isAbandoned(holder: LeaseOwner(process: "old", host: LeaseOwner.thisHost, pid: Int32.max, token: 1)))
        var unknown = me
        unknown.pidNamespace = nil
        #expect(!unknown.isAbandoned(holder: LeaseOwner(process: "gone", host: LeaseOwner.thisHost, pid: Int32.max, token: 1)))
    }

    @Test func theLeaseDocumentCarriesThePIDNamespace() throws {
        let owner = LeaseOwner(process: "p", host: "h/boot", pid: 7, token: 2, pidNamespace: "pid:[4026531836]")
        let body = OpenSearchIndex.leaseBody(source: "s", owner: owner, now: Date(), ttl: .seconds(60))
        #expect(body["pid_namespace"] == "pid:[4026531836]")
        let read = try OpenSearchIndex.parseLease(["_source": body, "_seq_no": 1, "_primary_term": 1])
        #expect(read.owner == owner)
        var old = body
        if case .object(var fields) = old { fields["pid_namespace"] = nil; old = .object(fields) }
        #expect(try OpenSearchIndex.parseLease(["_source": old]).owner?.pidNamespace == nil)
    }
}
