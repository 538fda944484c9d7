import Foundation
import IngestCore
import IngestKit
import IngestTokenizer
import Logging
import Testing

/// `--prune` against an OpenSearch that fails: the run must fail (exit 1) and say why in the
/// summary and the report. It used to swallow the error with `try?` and report "0 pruned", exit 0.
@Suite struct PruneFailureTests {
    let index = InMemoryIndex()
    let dir: String

    init() throws {
        dir = PathRules.canonical(NSTemporaryDirectory()) + "/ingest-prune-tests-" + UUID().uuidString
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        for name in ["a.md", "b.md"] {
            try "# \(name)\n\nSome text.".write(toFile: dir + "/" + name, atomically: true, encoding: .utf8)
        }
    }

    func runner() -> BatchRunner {
        var settings = PipelineSettings()
        settings.index = "prune"
        return BatchRunner(pipeline: IngestPipeline(converter: FakeConverter(), embedder: FakeEmbedder(), index: index, tokenizer: WordPieceTokenizer.miniLM,
                                                    settings: settings, endpoints: .init(docling: "d", embeddings: "e", opensearch: "o"), logger: Logger(label: "t")))
    }

    func prune() async -> BatchRunner.Result {
        var options = BatchOptions(paths: [dir])
        options.prune = true
        return await runner().run(options, observer: nil, stop: StopSignal())
    }

    @Test func aFailedListingFailsTheRun() async throws {
        _ = await runner().run(BatchOptions(paths: [dir]), observer: nil, stop: StopSignal())
        await index.setPruneFailures(listing: IngestError(.serviceUnavailable, "cannot reach http://os:9200: connection refused"), deletes: nil)
        let result = await prune()
        #expect(result.exitStatus == 1)
        #expect(result.report.pruneError?.reason == .serviceUnavailable)
        #expect(result.report.pruneError?.message.contains("connection refused") == true)
        #expect(result.report.summaryLine.contains("0 pruned (prune failed)"))
        // The report file carries it too.
        let json = try JSONDecoder().decode(JSONValue.self, from: result.report.jsonData())
        #expect(json["prune_error"]?["reason"]?.stringValue == "service_unavailable")
        #expect(result.report.totals.failed == 0)  // the documents themselves were fine
    }

    @Test func aFailedDeleteFailsTheRun() async throws {
        _ = await runner().run(BatchOptions(paths: [dir]), observer: nil, stop: StopSignal())
        try FileManager.default.removeItem(atPath: dir + "/b.md")
        await index.setPruneFailures(listing: nil, deletes: IngestError(.authFailed, "OpenSearch refused the delete (HTTP 403)"))
        let result = await prune()
        #expect(result.exitStatus == 1)
        #expect(result.report.pruneError?.message.contains("HTTP 403") == true)
        #expect(result.report.pruned == [])
    }

    @Test func aPruneThatWorksStillExitsZero() async throws {
        _ = await runner().run(BatchOptions(paths: [dir]), observer: nil, stop: StopSignal())
        try FileManager.default.removeItem(atPath: dir + "/b.md")
        let result = await prune()
        #expect(result.exitStatus == 0)
        #expect(result.report.pruneError == nil)
        #expect(result.report.pruned?.map(\.source) == [dir + "/b.md"])
    }
}
