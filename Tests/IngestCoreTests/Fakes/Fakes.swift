import Foundation
import IngestChunking
import IngestDocling
import IngestCore
import IngestKit

/// Converts by reading the bytes as Markdown (so tests control the chunks with plain text);
/// files named `*.bad` fail like a corrupt document, `*.bin` like an unsupported one.
final class FakeConverter: DocumentConverter, @unchecked Sendable {
    private let lock = NSLock()
    private var _calls = 0
    var calls: Int { lock.withLock { _calls } }

    func convert(_ document: SourceDocument, options: [String: JSONValue]) async throws -> ConvertedDocument {
        lock.withLock { _calls += 1 }
        if document.filename.hasSuffix(".bad") { throw IngestError(.parseFailed, "\(document.filename): corrupt") }
        if document.filename.hasSuffix(".bin") { throw IngestError(.unsupportedFormat, "\(document.filename): not allowed") }
        let markdown = String(decoding: document.bytes, as: UTF8.self)
        return ConvertedDocument(document: try DoclingJSON.decodeDocument(from: Data(Self.emptyDocument.utf8)), markdown: markdown)
    }

    func checkHealth() async throws {}

    /// The smallest DoclingDocument: a body with no children.
    static let emptyDocument = """
        {"schema_name":"DoclingDocument","version":"1.10.0","name":"empty","origin":{"mimetype":"text/markdown","binary_hash":15009791361793546630,"filename":"empty.md"},
         "furniture":{"self_ref":"#/furniture","children":[],"content_layer":"furniture","name":"_root_","label":"unspecified"},
         "body":{"self_ref":"#/body","children":[],"content_layer":"body","name":"_root_","label":"unspecified"},
         "groups":[],"texts":[],"pictures":[],"tables":[],"key_value_items":[],"form_items":[],"pages":{}}
        """
}

/// A converter that takes its time (a Docling working on a long document): `delay` per call, or
/// until cancelled when nil; `onStart` runs as each conversion starts.
final class SlowConverter: DocumentConverter, @unchecked Sendable {
    let inner = FakeConverter()
    let delay: Duration?
    let onStart: @Sendable () async -> Void

    init(delay: Duration?, onStart: @escaping @Sendable () async -> Void = {}) {
        self.delay = delay
        self.onStart = onStart
    }

    func convert(_ document: SourceDocument, options: [String: JSONValue]) async throws -> ConvertedDocument {
        await onStart()
        if let delay {
            try await Task.sleep(for: delay)
        } else {
            while true { try await Task.sleep(for: .seconds(60)) }
        }
        return try await inner.convert(document, options: options)
    }

    func checkHealth() async throws {}
}

/// Deterministic vectors (a hash of the text spread over `dimension` floats); counts calls and
/// can refuse texts over a length, like a server with a smaller window.
final class FakeEmbedder: Embedder, @unchecked Sendable {
    let model: String
    let dimension: Int
    var maxCharacters: Int?
    private let lock = NSLock()
    private var _calls = 0
    private var _texts = 0
    var calls: Int { lock.withLock { _calls } }
    var texts: Int { lock.withLock { _texts } }

    init(model: String = "all-MiniLM-L6-v2", dimension: Int = 8, maxCharacters: Int? = nil) {
        self.model = model
        self.dimension = dimension
        self.maxCharacters = maxCharacters
    }

    func embed(_ texts: [String]) async throws -> [[Float]] {
        lock.withLock { _calls += 1; _texts += texts.count }
        if let max = maxCharacters, let i = texts.firstIndex(where: { $0.count > max }) {
            throw IngestError(.embedRejected, "input \(i) too long", itemIndex: i)
        }
        return texts.map { text in
            var h = UInt64(1469598103934665603)
            for b in text.utf8 { h = (h ^ UInt64(b)) &* 1099511628211 }
            return (0..<dimension).map { i in Float((h >> UInt64(i % 64)) & 0xff) / 255 }
        }
    }

    func probeDimension() async throws -> Int { dimension }
}

/// An in-memory OpenSearch index honouring the `ChunkIndex` contract.
actor InMemoryIndex: ChunkIndex {
    struct Index { var dimension: [String: Int] = [:]; var docs: [String: [String: JSONValue]] = [:] }
    var indexes: [String: Index] = [:]
    var writes = 0
    var failWritesWith: IngestError?

    /// The spaces prepared, in order (field identity: the space id, or the model).
    var preparedSpaces: [EmbeddingSpace] = []

    func prepare(index: String, space: EmbeddingSpace, dimension: Int) async throws {
        preparedSpaces.append(space)
        var idx = indexes[index] ?? Index()
        let field = space.fieldIdentity
        if let existing = idx.dimension[field], existing != dimension {
            throw IngestError(.dimensionMismatch, "\(field) has \(existing), got \(dimension)")
        }
        idx.dimension[field] = dimension
        indexes[index] = idx
    }

    func storedSource(index: String, source: String) async throws -> StoredSource {
        guard let idx = indexes[index] else { return .empty }
        var byGeneration: [String: StoredSource.Generation] = [:]
        for doc in idx.docs.values where doc["source"]?.stringValue == source {
            let g = doc["generation"]?.stringValue ?? ""
            var entry = byGeneration[g] ?? .init(generation: g, storedChunks: 0, chunkCount: doc["chunk_count"]?.intValue ?? 0)
            entry.storedChunks += 1
            byGeneration[g] = entry
        }
        return StoredSource(generations: byGeneration.values.sorted { $0.generation < $1.generation })
    }

    func write(index: String, records: [ChunkRecord], refresh: Bool) async throws {
        if let failWritesWith { throw failWritesWith }
        if let onWrite { await onWrite(records.first?.source ?? "") }
        writes += 1
        var idx = indexes[index] ?? Index()
        for r in records { idx.docs[r.id] = Self.fields(of: r) }
        indexes[index] = idx
    }

    /// The record as OpenSearch's `_source` (the field names the README documents), so tests
    /// read stored chunks the way a search would.
    static func fields(of r: ChunkRecord) -> [String: JSONValue] {
        var fields: [String: JSONValue] = [
            "text": .string(r.text), "chunk_index": .int(r.chunkIndex), "chunk_count": .int(r.chunkCount),
            "headings": .array(r.headings.map { .string($0) }), "pages": .array(r.pages.map { .int($0) }),
            "source": .string(r.source), "document_id": .string(r.documentID), "generation": .string(r.generation),
            "filename": .string(r.filename), "file_size": .int(r.fileSize), "indexed_time": .string(r.indexedTime),
            "embedding_model": .string(r.embeddingModel), "embedding_dimensions": .int(r.vector.count),
            "chunk_embedding_" + r.embeddingModel.lowercased().map { $0.isLetter || $0.isNumber ? String($0) : "_" }.joined(): .array(r.vector.map { .double(Double($0)) }),
        ]
        if let first = r.pages.first { fields["page"] = .int(first) }
        if let v = r.mimetype { fields["mimetype"] = .string(v) }
        if let v = r.owner { fields["owner"] = .string(v) }
        if let v = r.ownerName { fields["owner_name"] = .string(v) }
        if let v = r.ownerEmail { fields["owner_email"] = .string(v) }
        if let v = r.connectorType { fields["connector_type"] = .string(v) }
        if let v = r.embeddingProvider, let id = r.space.spaceID {
            fields["embedding_provider"] = .string(v)
            fields["embedding_space_id"] = .string(id)
        }
        return fields
    }

    func deleteChunks(index: String, source: String, keepGeneration: String?) async throws -> Int {
        if let failDeletesWith { throw failDeletesWith }
        guard var idx = indexes[index] else { return 0 }
        let doomed = idx.docs.filter { $0.value["source"]?.stringValue == source && $0.value["generation"]?.stringValue != keepGeneration }.map(\.key)
        for id in doomed { idx.docs[id] = nil }
        indexes[index] = idx
        return doomed.count
    }

    /// Set to make listing (`sources`) or deleting fail, like an OpenSearch that refuses (for `--prune`).
    var failListingWith: IngestError?
    var failDeletesWith: IngestError?
    func setPruneFailures(listing: IngestError?, deletes: IngestError?) { failListingWith = listing; failDeletesWith = deletes }

    func sources(index: String, prefix: String) async throws -> [String] {
        if let failListingWith { throw failListingWith }
        return Array(Set((indexes[index]?.docs ?? [:]).values.compactMap { $0["source"]?.stringValue }.filter { $0.hasPrefix(prefix) })).sorted()
    }

    func checkHealth() async throws {}

    func docs(_ index: String) -> [String: [String: JSONValue]] { indexes[index]?.docs ?? [:] }

    // MARK: leases (the OpenSearch lock documents: create-if-absent, take over when expired or abandoned)

    struct Lease { var owner: LeaseOwner; var expires: ContinuousClock.Instant }
    var leases: [String: Lease] = [:]
    var acquisitions = 0
    var refusals = 0
    var releases = 0
    /// Called on every write, to let a test interleave another ingest at that moment.
    var onWrite: (@Sendable (String) async -> Void)?

    func acquireLease(index: String, source: String, owner: LeaseOwner, ttl: Duration) async throws -> Bool {
        let key = index + "\u{0}" + source
        let now = ContinuousClock.now
        if let held = leases[key], held.owner.id != owner.id, held.expires > now, !owner.isAbandoned(holder: held.owner) {
            refusals += 1
            return false
        }
        leases[key] = Lease(owner: owner, expires: now + ttl)
        acquisitions += 1
        return true
    }

    var renewals = 0
    /// Like AsyncHTTPClient: a request from a cancelled task fails (set by the tests of the keeper).
    var releaseFailsWhenCancelled = false
    /// Holds every release this long (a slow or hung OpenSearch).
    var releaseDelay: Duration?

    func renewLease(index: String, source: String, owner: LeaseOwner, ttl: Duration) async throws -> Bool {
        let key = index + "\u{0}" + source
        guard leases[key]?.owner.id == owner.id else { return false }
        leases[key]?.expires = .now + ttl
        renewals += 1
        return true
    }

    func releaseLease(index: String, source: String, owner: LeaseOwner) async throws {
        if releaseFailsWhenCancelled { try Task.checkCancellation() }
        if let releaseDelay { try await Task.sleep(for: releaseDelay) }
        let key = index + "\u{0}" + source
        if leases[key]?.owner.id == owner.id {
            leases[key] = nil
            releases += 1
        }
    }

    func hold(index: String, source: String, by owner: LeaseOwner, for ttl: Duration) {
        leases[index + "\u{0}" + source] = Lease(owner: owner, expires: .now + ttl)
    }
    func setOnWrite(_ hook: (@Sendable (String) async -> Void)?) { onWrite = hook }
    func setReleaseFailsWhenCancelled(_ on: Bool) { releaseFailsWhenCancelled = on }
    func setReleaseDelay(_ delay: Duration?) { releaseDelay = delay }
    func leaseHolder(index: String, source: String) -> LeaseOwner? { leases[index + "\u{0}" + source]?.owner }
}
