import Foundation
import IngestCore
import IngestKit
import IngestTokenizer
import Logging
import Testing

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

@Suite struct BatchTests {
    let index = InMemoryIndex()
    let embedder = FakeEmbedder()
    let dir: String

    init() throws {
        dir = PathRules.canonical(NSTemporaryDirectory()) + "/ingest-batch-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir + "/sub", withIntermediateDirectories: true)
        try FileManager.default.createDirectory(atPath: dir + "/.hidden", withIntermediateDirectories: true)
        for (name, text) in [("a.md", "# A\n\nAlpha."), ("sub/b.md", "# B\n\nBeta."), ("c.bad", "x"), ("notes.xyz", "x"), (".hidden/h.md", "# H\n\nHidden."), (".dot.md", "# D")] {
            try text.write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
    }

    func runner() -> BatchRunner {
        var settings = PipelineSettings()
        settings.index = "batch"
        settings.concurrency = 3
        return BatchRunner(pipeline: IngestPipeline(converter: FakeConverter(), embedder: embedder, index: index, tokenizer: WordPieceTokenizer.miniLM,
                                                    settings: settings, endpoints: .init(docling: "d", embeddings: "e", opensearch: "o"), logger: Logger(label: "t")))
    }

    @Test func oneBadFileNeverStopsTheBatch() async throws {
        let result = await runner().run(BatchOptions(paths: [dir]), observer: nil, stop: StopSignal())
        let byName = Dictionary(uniqueKeysWithValues: result.report.documents.map { (($0.source as NSString).lastPathComponent, $0) })
        #expect(byName.keys.sorted() == ["a.md", "b.md", "c.bad", "notes.xyz"])
        #expect(byName["a.md"]?.status == .indexed)
        #expect(byName["b.md"]?.status == .indexed)
        #expect(byName["c.bad"]?.status == .skipped)  // not a Docling extension: skipped before upload
        #expect(byName["notes.xyz"]?.error?.reason == .unsupportedFormat)
        #expect(result.report.totals.indexed == 2 && result.report.totals.skipped == 2 && result.report.totals.failed == 0)
        #expect(result.fatal == nil)
    }

    @Test func explicitUnconvertibleFileFails() async throws {
        // Named explicitly, the corrupt file goes to Docling and fails there.
        let bad = dir + "/c.bad"
        let result = await runner().run(BatchOptions(paths: [bad, dir + "/a.md"]), observer: nil, stop: StopSignal())
        let statuses = result.report.documents.map(\.status)
        #expect(statuses.sorted { $0.rawValue < $1.rawValue } == [.failed, .indexed])
        #expect(result.report.documents.first { $0.status == .failed }?.error?.reason == .parseFailed)
    }

    @Test func missingPathIsUnreadable() async throws {
        let result = await runner().run(BatchOptions(paths: [dir + "/nope.pdf"]), observer: nil, stop: StopSignal())
        #expect(result.report.documents.first?.error?.reason == .unreadable)
        #expect(result.report.documents.first?.documentID == nil)
    }

    /// The CLI too reads a FIFO named on its command line from one non-blocking open: it fails
    /// at once as `invalid_input` naming it a FIFO (before: `unreadable`, "You don't have
    /// permission"); one inside a directory is not even listed.
    @Test func aFIFOFailsAtOnceWhenNamedAndIsNotListedInADirectory() async throws {
        let fifo = dir + "/pipe.md"
        try #require(mkfifo(fifo, 0o600) == 0)
        let writer = DocumentReaderTests.LateWriter(fifo)
        let runner = runner()
        let named = await runner.run(BatchOptions(paths: [fifo]), observer: nil, stop: StopSignal())
        #expect(!writer.foundABlockedReader)
        #expect(named.report.documents.first?.status == .failed)
        #expect(named.report.documents.first?.error?.reason == .invalidInput)
        #expect(named.report.documents.first?.error?.message.contains("FIFO") == true)
        let walked = await runner.run(BatchOptions(paths: [dir]), observer: nil, stop: StopSignal())
        #expect(!walked.report.documents.contains { $0.source.hasSuffix("/pipe.md") })
        #expect(walked.report.totals.indexed == 2)
    }

    @Test func pruneDeletesChunksOfVanishedFiles() async throws {
        _ = await runner().run(BatchOptions(paths: [dir]), observer: nil, stop: StopSignal())
        try FileManager.default.removeItem(atPath: dir + "/sub/b.md")
        var options = BatchOptions(paths: [dir])
        options.prune = true
        let result = await runner().run(options, observer: nil, stop: StopSignal())
        #expect(result.report.pruned?.map(\.source) == [dir + "/sub/b.md"])
        let sources = Set(await index.docs("batch").values.compactMap { $0["source"]?.stringValue })
        #expect(sources == [dir + "/a.md"])
    }

    @Test func stoppedBatchStartsNothingNew() async throws {
        let stop = StopSignal()
        await stop.stop()
        let result = await runner().run(BatchOptions(paths: [dir]), observer: nil, stop: stop)
        #expect(result.report.documents.isEmpty)
        #expect(result.interrupted)
        #expect(result.report.notStarted == 4)
    }

    @Test func previewWritesChunksWithoutEmbeddingOrIndexing() async throws {
        var options = BatchOptions(paths: [dir + "/a.md"])
        options.previewPath = dir + "/preview.jsonl"
        let result = await runner().run(options, observer: nil, stop: StopSignal())
        #expect(result.report.totals.failed == 0)
        let lines = try String(contentsOfFile: dir + "/preview.jsonl", encoding: .utf8).split(separator: "\n")
        #expect(lines.count == 1)
        let object = try JSONDecoder().decode([String: JSONValue].self, from: Data(lines[0].utf8))
        for key in ["chunk_index", "text", "embedding_text", "headings", "pages", "token_count", "doc_items", "source", "_id"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        #expect(embedder.calls == 0)
        #expect(await index.docs("batch").isEmpty)
    }

    @Test func authFailureStopsNewDocuments() async throws {
        await index.setFailure(IngestError(.authFailed, "401"))
        let result = await runner().run(BatchOptions(paths: [dir]), observer: nil, stop: StopSignal())
        #expect(result.fatal?.reason == .authFailed)
    }
}

extension InMemoryIndex {
    func setFailure(_ error: IngestError?) { failWritesWith = error }
}

@Suite struct WalkerAndRulesTests {
    @Test func globsMatchRelativePathOrName() {
        let w = FileWalker(includes: ["*.md", "docs/*.pdf"], excludes: ["draft*"])
        #expect(w.matches("a.md"))
        #expect(w.matches("deep/dir/a.md"))
        #expect(w.matches("docs/x.pdf"))
        #expect(!w.matches("x.pdf"))
        #expect(!w.matches("draft-1.md"))
    }

    @Test func urlGuardRefusesInternalAddresses() throws {
        let resolve: (String) -> [String] = { host in
            ["internal.example": ["10.1.2.3"], "public.example": ["93.184.216.34"], "v6.example": ["::1"]][host] ?? []
        }
        #expect(throws: IngestError.self) { try URLGuard.check("http://127.0.0.1:8080/x", allowHosts: [], resolve: resolve) }
        #expect(throws: IngestError.self) { try URLGuard.check("http://internal.example/x", allowHosts: [], resolve: resolve) }
        #expect(throws: IngestError.self) { try URLGuard.check("http://v6.example/x", allowHosts: [], resolve: resolve) }
        #expect(throws: IngestError.self) { try URLGuard.check("http://[::ffff:192.168.1.1]/x", allowHosts: [], resolve: resolve) }
        #expect(throws: IngestError.self) { try URLGuard.check("file:///etc/passwd", allowHosts: [], resolve: resolve) }
        try URLGuard.check("https://public.example/doc.pdf", allowHosts: [], resolve: resolve)
        try URLGuard.check("http://internal.example/x", allowHosts: ["internal.example"], resolve: resolve)
        #expect(URLGuard.isInternal("172.20.0.1"))
        #expect(!URLGuard.isInternal("172.32.0.1"))
        #expect(URLGuard.isInternal("fe80::1"))
    }

    @Test func environmentErrorsNameTheVariable() throws {
        let env = Environment(["INGEST_CONCURRENCY": "lots", "DOCLING_CONVERT_OPTIONS": "[1]", "OPENSEARCH_INDEX": "Bad Name"])
        #expect { try env.int("INGEST_CONCURRENCY", default: 4, range: 1...256) } throws: { ($0 as? IngestError)?.message.contains("INGEST_CONCURRENCY=lots") == true }
        #expect { try env.jsonObject("DOCLING_CONVERT_OPTIONS") } throws: { ($0 as? IngestError)?.message.contains("DOCLING_CONVERT_OPTIONS") == true }
        #expect(throws: IngestError.self) { try PipelineSettings.fromEnvironment(Environment(["OPENSEARCH_INDEX": "Bad Name"]), forWorker: false) }
        let worker = try? PipelineSettings.fromEnvironment(Environment(["INGEST_ALLOWED_ROOTS": "/tmp:/var"]), forWorker: true)
        #expect(worker?.allowedRoots?.count == 2)
        #expect(try PipelineSettings.fromEnvironment(Environment([:]), forWorker: false).allowedRoots == nil)
    }

    @Test func credentialsAreRedacted() {
        #expect(redactingCredentials("cannot reach https://admin:s3cret@os.local:9200/_bulk") == "cannot reach https://***@os.local:9200/_bulk")
        #expect(redactingCredentials("http://host/x and http://u:p@h/y") == "http://host/x and http://***@h/y")
    }

    @Test func reportTotalsAndJSONShape() throws {
        var report = RunReport()
        report.add(DocumentOutcome(source: "a", documentID: "d", status: .indexed, chunks: 3))
        report.add(DocumentOutcome(source: "b", status: .unchanged, chunks: 2))
        report.add(DocumentOutcome(source: "c", status: .failed, error: .init(reason: .parseFailed, message: "m")))
        #expect(report.totals.chunks == 5 && report.totals.failed == 1 && report.totals.documents == 3)
        let json = try JSONDecoder().decode(JSONValue.self, from: report.jsonData())
        #expect(json["documents"]?.arrayValue?.first?["document_id"] == .string("d"))
        #expect(json["documents"]?.arrayValue?[2]["error"]?["reason"] == .string("parse_failed"))
        #expect(json["totals"]?["indexed"] == .int(1))
    }
}
