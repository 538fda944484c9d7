import Foundation
import IngestChunking
import IngestCore
import IngestKit
import IngestTokenizer
import Logging
import Synchronization
import Testing

/// The pipeline's decisions (unchanged, swap, ids, dimension, re-split), with in-memory fakes.
@Suite struct PipelineTests {
    let converter = FakeConverter()
    let embedder = FakeEmbedder()
    let index = InMemoryIndex()
    let dir: String

    init() throws {
        dir = NSTemporaryDirectory() + "ingest-core-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    func pipeline(_ configure: (inout PipelineSettings) -> Void = { _ in }) -> IngestPipeline {
        var settings = PipelineSettings()
        settings.index = "test"
        settings.maxTokens = 64
        settings.concurrency = 2
        configure(&settings)
        return IngestPipeline(converter: converter, embedder: embedder, index: index, tokenizer: WordPieceTokenizer.miniLM,
                              settings: settings, endpoints: .init(docling: "d", embeddings: "e", opensearch: "o"), logger: Logger(label: "test"))
    }

    func write(_ name: String, _ text: String) throws -> String {
        let path = dir + "/" + name
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    static let longText = "# Guide\n\n" + (1...40).map { "Paragraph \($0) explains one more detail of the system in plain words." }.joined(separator: "\n\n")

    @Test func indexesThenReportsUnchangedWithoutCalls() async throws {
        let path = try write("guide.md", Self.longText)
        let p = pipeline()
        let first = try await p.ingest(IngestRequest(input: .path(path)))
        #expect(first.status == .indexed)
        #expect(first.chunks > 1)
        let stored = await index.docs("test")
        #expect(stored.count == first.chunks)
        let (convertCalls, embedCalls) = (converter.calls, embedder.calls)

        let second = try await p.ingest(IngestRequest(input: .path(path)))
        #expect(second.status == .unchanged)
        #expect(second.chunks == first.chunks)
        #expect(converter.calls == convertCalls)
        #expect(embedder.calls == embedCalls)
        #expect(await index.docs("test").keys.sorted() == stored.keys.sorted())
    }

    @Test func idsAreDeterministicAndSchemaFieldsPresent() async throws {
        let path = try write("a.md", "# Title\n\nSome text.")
        _ = try await pipeline().ingest(IngestRequest(input: .path(path)))
        let docs = await index.docs("test")
        let (id, fields) = try #require(docs.first)
        let canonical = PathRules.canonical(path)
        let identity = DocumentIdentity(source: canonical, documentID: SHA256.hex(Data("# Title\n\nSome text.".utf8)),
                                        settings: pipeline().generationSettings(for: IngestRequest(input: .path(path))))
        #expect(id == identity.chunkID(0))
        #expect(fields["source"] == .string(canonical))
        #expect(fields["document_id"] == .string(identity.documentID))
        #expect(fields["generation"] == .string(identity.generation))
        #expect(fields["filename"] == .string("a.md"))
        #expect(fields["mimetype"] == .string("text/markdown"))
        #expect(fields["embedding_model"] == .string("all-MiniLM-L6-v2"))
        #expect(fields["embedding_dimensions"] == .int(8))
        #expect(fields["chunk_embedding_all_minilm_l6_v2"]?.arrayValue?.count == 8)
        #expect(fields["chunk_index"] == .int(0))
        #expect(fields["chunk_count"] == .int(docs.count))
        #expect(fields["text"]?.stringValue?.contains("Some text.") == true)
        #expect(fields["pages"] == .array([]))
        #expect(fields["page"] == nil)
        #expect(fields["indexed_time"] != nil)
        #expect(fields["file_size"] == .int(19))
    }

    @Test func editedDocumentLeavesExactlyOneGeneration() async throws {
        let path = try write("e.md", Self.longText)
        let p = pipeline()
        _ = try await p.ingest(IngestRequest(input: .path(path)))
        try (Self.longText + "\n\nA new closing paragraph.").write(toFile: path, atomically: true, encoding: .utf8)
        let outcome = try await p.ingest(IngestRequest(input: .path(path)))
        #expect(outcome.status == .indexed)
        let docs = await index.docs("test")
        #expect(Set(docs.values.compactMap { $0["generation"]?.stringValue }).count == 1)
        #expect(docs.count == outcome.chunks)
    }

    @Test func settingsThatChangeChunksChangeTheGeneration() {
        let base = GenerationSettings(tokenizer: "t", maxTokens: 256, doclingOptions: [:], embeddingModel: "m")
        var budget = base; budget.maxTokens = 128
        var model = base; model.embeddingModel = "m2"
        var docling = base; docling.doclingOptions = ["do_ocr": false]
        let ids = [base, budget, model, docling].map { DocumentIdentity(source: "s", documentID: "d", settings: $0).generation }
        #expect(Set(ids).count == 4)
        #expect(DocumentIdentity(source: "s", documentID: "d", settings: base) == DocumentIdentity(source: "s", documentID: "d", settings: base))
        #expect(DocumentIdentity(source: "s", documentID: "d", settings: base).chunkID(3).utf8.count < 512)
    }

    @Test func sameBytesAtTwoPathsAreTwoSources() async throws {
        let a = try write("one.md", "# T\n\nSame bytes.")
        let b = try write("two.md", "# T\n\nSame bytes.")
        let p = pipeline()
        _ = try await p.ingest(IngestRequest(input: .path(a)))
        _ = try await p.ingest(IngestRequest(input: .path(b)))
        let sources = Set(await index.docs("test").values.compactMap { $0["source"]?.stringValue })
        #expect(sources.count == 2)
    }

    @Test func dimensionMismatchFailsBeforeWriting() async throws {
        try await index.prepare(index: "test", embeddingModel: "all-MiniLM-L6-v2", dimension: 384)
        let path = try write("d.md", "# T\n\nText.")
        let outcome = try await pipeline().ingest(IngestRequest(input: .path(path)))
        #expect(outcome.status == .failed)
        #expect(outcome.error?.reason == .dimensionMismatch)
        #expect(await index.docs("test").isEmpty)
    }

    @Test func rejectedChunkIsReSplitSmaller() async throws {
        embedder.maxCharacters = 250
        let path = try write("long.md", Self.longText)
        let outcome = try await pipeline { $0.maxTokens = 120 }.ingest(IngestRequest(input: .path(path)))
        #expect(outcome.status == .indexed, "\(String(describing: outcome.error))")
        #expect(outcome.warnings.contains { $0.message.contains("re-chunked") })
    }

    @Test func failuresBecomeOutcomesWithReasons() async throws {
        let bad = try write("x.bad", "corrupt")
        let missing = dir + "/missing.md"
        let p = pipeline()
        let o1 = try await p.ingest(IngestRequest(input: .path(bad)))
        #expect(o1.status == .failed && o1.error?.reason == .parseFailed)
        await #expect(throws: IngestError.self) { try await p.ingest(IngestRequest(input: .path(missing))) }
        let unsupported = try write("y.bin", "bytes")
        let o3 = try await p.ingest(IngestRequest(input: .path(unsupported)))
        #expect(o3.status == .skipped && o3.error?.reason == .unsupportedFormat)
    }

    @Test func emptyDocumentFails() async throws {
        let path = try write("empty.md", "   \n")
        let outcome = try await pipeline().ingest(IngestRequest(input: .path(path)))
        #expect(outcome.status == .failed)
        #expect(outcome.error?.reason == .emptyDocument)
    }

    @Test func workerRefusesPathsOutsideAllowedRoots() async throws {
        let path = try write("in.md", "# T\n\nText.")
        let inside = pipeline { $0.allowedRoots = [PathRules.canonical(dir)] }
        #expect(try await inside.ingest(IngestRequest(input: .path(path))).status == .indexed)
        let none = pipeline { $0.allowedRoots = [] }
        await #expect(throws: IngestError.self) { try await none.ingest(IngestRequest(input: .path(path))) }
        let other = pipeline { $0.allowedRoots = ["/nonexistent-root"] }
        await #expect(throws: IngestError.self) { try await other.ingest(IngestRequest(input: .path(dir + "/../" + (dir as NSString).lastPathComponent + "/in.md"))) }
    }

    /// Inline content is `upload:<owner>/<filename>` (it was the bare file name, so two owners'
    /// uploads of notes.md replaced each other's chunks), or the caller's `source_key`.
    @Test func inlineContentIsIdentifiedByOwnerAndName() async throws {
        let p = pipeline()
        let bytes = Data("# N\n\nInline.".utf8)
        let alice = try await p.ingest(IngestRequest(input: .inline(filename: "notes.md", bytes: bytes), owner: "alice"))
        let bob = try await p.ingest(IngestRequest(input: .inline(filename: "notes.md", bytes: bytes), owner: "bob"))
        let nobody = try await p.ingest(IngestRequest(input: .inline(filename: "notes.md", bytes: bytes)))
        #expect([alice.status, bob.status, nobody.status] == [.indexed, .indexed, .indexed])
        #expect(alice.source == "upload:alice/notes.md" && bob.source == "upload:bob/notes.md" && nobody.source == "upload:anonymous/notes.md")
        let keyed = try await p.ingest(IngestRequest(input: .inline(filename: "notes.md", bytes: bytes), source: "drive:1Xy"))
        #expect(keyed.source == "upload:anonymous/drive:1Xy")
        await #expect(throws: IngestError.self) { try await p.ingest(IngestRequest(input: .path("/tmp/x.md"), source: "k")) }
    }

    /// One object fetched through two presigned links is one source: the identity drops the
    /// signing parameters (and the reports and logs carry none), while the request uses the whole URL.
    @Test func aPresignedURLIsOneSourceWithoutItsSignature() async throws {
        let connector = URLFetcherTests.ScriptedConnector(headers: [("content-type", "text/markdown")], pieces: [64])
        let p = IngestPipeline(converter: converter, embedder: embedder, index: index, tokenizer: WordPieceTokenizer.miniLM,
                               settings: { var s = PipelineSettings(); s.index = "test"; s.maxTokens = 64; return s }(),
                               fetcher: URLFetcher(connector: connector, resolve: { _ in ["93.184.216.34"] }),
                               endpoints: .init(docling: "d", embeddings: "e", opensearch: "o"), logger: Logger(label: "test"))
        let base = "https://bucket.s3.amazonaws.com/docs/report.md?versionId=7"
        let first = base + "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261207T120000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=1111"
        let second = base + "&X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Date=20261207T130000Z&X-Amz-Expires=900&X-Amz-SignedHeaders=host&X-Amz-Signature=2222"
        let a = try await p.ingest(IngestRequest(input: .url(first)))
        let b = try await p.ingest(IngestRequest(input: .url(second)))
        #expect(a.source == base && b.source == base)
        #expect(connector.calls.withLock { $0.map(\.url) } == [first, second])
    }

    /// An upload can name no path's or URL's identity, and no owner and key can spell another
    /// owner's: `source_key` is a key inside the owner's namespace, the owner escaped.
    @Test func uploadsLiveInANamespaceOfTheirOwn() async throws {
        let p = pipeline()
        let bytes = Data("# N\n\nInline.".utf8)
        let forged = try await p.ingest(IngestRequest(input: .inline(filename: "n.md", bytes: bytes), source: "/data/docs/report.md"))
        #expect(forged.source == "upload:anonymous//data/docs/report.md")
        let url = try await p.ingest(IngestRequest(input: .inline(filename: "n.md", bytes: bytes), source: "https://example.com/a.pdf", owner: "bob"))
        #expect(url.source == "upload:bob/https://example.com/a.pdf")
        #expect(DocumentInput.uploadIdentity(owner: "a/b", key: "c.md") == "upload:a%2Fb/c.md")
        #expect(DocumentInput.uploadIdentity(owner: "a", key: "b/c.md") == "upload:a/b/c.md")
        #expect(DocumentInput.uploadIdentity(owner: "100%", key: "c.md") == "upload:100%25/c.md")
        #expect(DocumentInput.uploadIdentity(owner: "100%2F", key: "c.md") != DocumentInput.uploadIdentity(owner: "100/", key: "c.md"))
        #expect(DocumentInput.uploadIdentity(owner: "alice@example.com", key: "c.md") == "upload:alice@example.com/c.md")
        #expect(DocumentInput.uploadIdentity(owner: nil, key: "c.md") == "upload:anonymous/c.md")
    }
}
