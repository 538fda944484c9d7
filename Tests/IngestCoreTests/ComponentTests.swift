import Foundation
import IngestCore
import IngestKit
import Logging
import Synchronization
import Testing

/// The transport-independent `ingest` component: input parsed into the request, blobs read
/// through the reader seam (JSON or raw bytes), typed failures, the outcome encoded once.
@Suite struct ComponentTests {
    /// Answers with `behaviour`, recording the requests.
    final class Ingester: DocumentIngesting {
        let behaviour: @Sendable (IngestRequest) async throws -> DocumentOutcome
        private let recorded = Mutex<[IngestRequest]>([])
        var requests: [IngestRequest] { recorded.withLock { $0 } }

        init(_ behaviour: @escaping @Sendable (IngestRequest) async throws -> DocumentOutcome = { _ in
            DocumentOutcome(source: "/d/a.pdf", documentID: "d1", filename: "a.pdf", status: .indexed, chunks: 2, index: "docs", warnings: [IngestWarning("w")], timings: .init())
        }) { self.behaviour = behaviour }

        func ingest(_ request: IngestRequest) async throws -> DocumentOutcome {
            recorded.withLock { $0.append(request) }
            return try await behaviour(request)
        }
        func checkDependencies() async -> [DependencyStatus] { [] }
    }

    /// Blobs from a dictionary; counts reads.
    struct Blobs: BlobReader {
        var contents: [String: BlobContent]
        func blob(id: String) async throws -> BlobContent {
            guard let content = contents[id] else { throw IngestError(.invalidInput, "blob \(id) could not be read") }
            return content
        }
    }

    static let logger = Logger(label: "test")

    func run(_ input: JSONValue, _ ingester: Ingester = Ingester(), blobs: [String: BlobContent] = [:], timeout: Duration = .seconds(60)) async throws -> ComponentResult {
        let component = IngestComponent(ingester: ingester, executeTimeout: timeout)
        return try await component.execute(try ComponentInput.parse(input), blobs: Blobs(contents: blobs), logger: Self.logger)
    }

    // MARK: - Parsing straight into the request

    /// The component owns its input rules: a transport hands it the input as received and gets
    /// back either the parsed input or a typed refusal it renders (nothing ran, nothing read).
    @Test func theComponentRefusesInputThatBreaksItsRules() {
        let ingester = Ingester()
        let component = IngestComponent(ingester: ingester, executeTimeout: .seconds(60))
        guard case .failure(let refusal) = component.accept(["source": "/d/a.pdf", "options": ["max_tokens": 8]], logger: Self.logger) else {
            Issue.record("accepted a budget of 8 tokens")
            return
        }
        #expect(refusal == ComponentFailure(reason: .invalidInput, source: "input", message: "\"options.max_tokens\" must be a whole number from 16 to 8192, got 8", refusedInput: true))
        guard case .success(let accepted) = component.accept(["source": "/d/a.pdf"], logger: Self.logger) else {
            Issue.record("refused a plain path")
            return
        }
        #expect(accepted.request.input == .path("/d/a.pdf"))
        #expect(ingester.requests.isEmpty)
    }

    @Test func everyFieldLandsInTheRequest() throws {
        let parsed = try ComponentInput.parse([
            "source": ["base64": "aGk=", "filename": "r.md", "mimetype": "text/markdown"], "filename": "report.md", "index": "docs",
            "owner": "o1", "owner_name": "Ann", "owner_email": "ann@example.com", "connector_type": "upload",
            "options": ["max_tokens": 256, "docling": ["do_ocr": false]],
        ])
        #expect(parsed.blob == nil)
        #expect(parsed.request == IngestRequest(
            input: .inline(filename: "r.md", bytes: Data("hi".utf8)), filename: "report.md", index: "docs", owner: "o1",
            ownerName: "Ann", ownerEmail: "ann@example.com", connectorType: "upload", mimetype: "text/markdown",
            maxTokens: 256, doclingOptions: ["do_ocr": false]
        ))
    }

    /// One rule per setting: the general token range, and OpenSearch's index-name rule, both as
    /// invalid input (not configuration).
    @Test(arguments: [8, 0, 8193])
    func maxTokensOutsideTheGeneralRangeIsInvalidInput(_ value: Int) {
        let error = #expect(throws: IngestError.self) { try ComponentInput.parse(["source": "/d/a.pdf", "options": ["max_tokens": .int(value)]]) }
        #expect(error?.reason == .invalidInput)
        #expect(error?.message.contains("options.max_tokens") == true && error?.message.contains("16 to 8192") == true)
    }

    @Test func badIndexIsInvalidInput() {
        let error = #expect(throws: IngestError.self) { try ComponentInput.parse(["source": "/d/a.pdf", "index": "Bad Name"]) }
        #expect(error?.reason == .invalidInput)
        #expect(error?.message.contains("'Bad Name'") == true)
    }

    // MARK: - Blobs

    @Test func jsonBlobIsASourceValueWhoseNamesWinOverTheOnesBesideIt() async throws {
        let ingester = Ingester()
        let result = try await run(["source": ["blob_id": "b1", "filename": "outer.md", "mimetype": "text/plain"], "index": "docs"], ingester,
                                   blobs: ["b1": .json(["base64": "aGk=", "filename": "inner.md"])])
        guard case .success = result else { Issue.record("expected success, got \(result)"); return }
        let request = try #require(ingester.requests.first)
        #expect(request.input == .inline(filename: "inner.md", bytes: Data("hi".utf8)))
        #expect(request.filename == "inner.md")
        #expect(request.mimetype == "text/plain")
        #expect(request.index == "docs")
    }

    @Test func rawBlobIsTheDocumentItself() async throws {
        let ingester = Ingester()
        _ = try await run(["source": ["blob_id": "b2"], "owner": "o"], ingester,
                          blobs: ["b2": .raw(bytes: Data("%PDF-1.4".utf8), filename: "scan.pdf", contentType: "application/pdf")])
        let request = try #require(ingester.requests.first)
        #expect(request.input == .inline(filename: "scan.pdf", bytes: Data("%PDF-1.4".utf8)))
        #expect(request.mimetype == "application/pdf")
        #expect(request.owner == "o")
    }

    @Test func rawBlobWithoutANameNeedsTheFilenameField() async throws {
        let named = Ingester()
        _ = try await run(["source": ["blob_id": "b3"], "filename": "given.docx"], named, blobs: ["b3": .raw(bytes: Data([1, 2]), filename: nil, contentType: nil)])
        #expect(named.requests.first?.input == .inline(filename: "given.docx", bytes: Data([1, 2])))

        let result = try await run(["source": ["blob_id": "b3"]], blobs: ["b3": .raw(bytes: Data([1, 2]), filename: nil, contentType: nil)])
        guard case .failure(let failure) = result else { Issue.record("expected a failure"); return }
        #expect(failure.reason == .invalidInput && failure.source == "blob b3" && failure.outcome == nil)
    }

    @Test func blobPointingAtABlobOrUnreadableIsInvalidInput() async throws {
        for (blobs, expected) in [(["b4": BlobContent.json(["blob_id": "b5"])], "exactly one of"), ([:], "could not be read")] {
            let result = try await run(["source": ["blob_id": "b4"]], blobs: blobs)
            guard case .failure(let failure) = result else { Issue.record("expected a failure"); continue }
            #expect(failure.reason == .invalidInput)
            #expect(failure.message.contains(expected), "\(failure.message)")
        }
    }

    // MARK: - Typed results

    @Test func successCarriesTheOutcomeEncodedOnce() async throws {
        let result = try await run(["source": "/d/a.pdf"])
        guard case .success(let output) = result else { Issue.record("expected success"); return }
        #expect(output.outcome.status == .indexed)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        #expect(output.json == (try encoder.encode(output.outcome)))
        #expect(try JSONDecoder().decode(DocumentOutcome.self, from: output.json) == output.outcome)
        let json = try JSONValue.parse(output.json, what: "output")
        #expect(json["document_id"] == "d1" && json["pages"] == nil && json["error"] == nil)
    }

    @Test func failedOutcomeIsATypedFailureWithTheOutcome() async throws {
        let ingester = Ingester { _ in DocumentOutcome(source: "/d/b.pdf", status: .failed, error: .init(reason: .embedFailed, message: "503 after 4 attempts")) }
        let result = try await run(["source": "/d/b.pdf"], ingester)
        guard case .failure(let failure) = result else { Issue.record("expected a failure"); return }
        #expect(failure.reason == .embedFailed)
        #expect(failure.source == "/d/b.pdf")
        #expect(failure.message == "503 after 4 attempts")
        #expect(failure.outcome?.outcome.status == .failed)
        #expect(try JSONValue.parse(try #require(failure.outcome?.json), what: "outcome")["error"]?["reason"] == "embed_failed")
    }

    @Test func refusedRequestKeepsItsReason() async throws {
        let ingester = Ingester { _ in throw IngestError(.invalidInput, "/etc/passwd is outside INGEST_ALLOWED_ROOTS") }
        let result = try await run(["source": "/etc/passwd"], ingester)
        guard case .failure(let failure) = result else { Issue.record("expected a failure"); return }
        #expect(failure == ComponentFailure(reason: .invalidInput, source: "/etc/passwd", message: "/etc/passwd is outside INGEST_ALLOWED_ROOTS"))
    }

    @Test func unexpectedErrorTextNeverReachesTheCaller() async throws {
        struct LibraryDump: Error, CustomStringConvertible { var description: String { "NIOCore.IOError(errnoCode: 104, reason: read(descriptor:pointer:size:))" } }
        let result = try await run(["source": "/d/c.pdf"], Ingester { _ in throw LibraryDump() })
        guard case .failure(let failure) = result else { Issue.record("expected a failure"); return }
        #expect(failure.reason == .internalError && failure.outcome == nil)
        #expect(!failure.message.contains("NIO") && !failure.message.contains("errno"))
    }

    @Test func deadlineIsCancelled() async throws {
        let result = try await run(["source": "/d/slow.pdf"], Ingester { _ in
            try await Task.sleep(for: .seconds(600))
            return DocumentOutcome(source: "x", status: .indexed)
        }, timeout: .milliseconds(50))
        guard case .failure(let failure) = result else { Issue.record("expected a failure"); return }
        #expect(failure.reason == .cancelled)
        #expect(failure.message.contains("INGEST_EXECUTE_TIMEOUT_SECONDS"))
    }
}
