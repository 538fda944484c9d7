import IngestCore
import IngestKit
import IngestWorker
import Logging
import Synchronization
import Testing

@testable import IngestStepflowGRPC

/// A pipeline in memory that notes what the execution holds in the document budget while it runs.
final class HoldRecordingIngester: DocumentIngesting {
    let outcome: DocumentOutcome
    private let held = Mutex<[Int]>([])

    init(outcome: DocumentOutcome) { self.outcome = outcome }

    var heldDuringIngest: [Int] { held.withLock { $0 } }

    func ingest(_ request: IngestRequest) async throws -> DocumentOutcome {
        let bytes = BudgetHold.current?.held ?? -1
        held.withLock { $0.append(bytes) }
        return outcome
    }

    func checkDependencies() async -> [DependencyStatus] { [] }
}

@Suite struct IngestTaskComponentTests {
    /// Issue 21: the assignment's bytes are in memory from the moment it is received, so they
    /// count in INGEST_MAX_INFLIGHT_BODY_BYTES for the whole execution (as an HTTP body does),
    /// and are given back when it ends.
    @Test func theReceivedBytesAreHeldInTheDocumentBudgetWhileTheDocumentRuns() async throws {
        let outcome = DocumentOutcome(source: "a.txt", documentID: "d1", filename: "a.txt", status: .indexed, chunks: 1, index: "docs")
        let ingester = HoldRecordingIngester(outcome: outcome)
        let budget = DocumentBudget(limitBytes: 100_000, maxFileBytes: 50_000)
        let component = IngestTaskComponent(ingester: ingester, metrics: .shared, executeTimeout: .seconds(600), budget: budget, logger: Logger(label: "test"))

        let result = try await component.execute(
            componentID: "ingest", input: ["source": ["base64": "aGVsbG8=", "filename": "a.txt"]], inputBytes: 1234, blobs: FakeBlobs(), context: ExecutionContext(taskID: "t1")
        )

        #expect(ingester.heldDuringIngest == [1234])
        #expect(budget.limiter.inUse == 0)
        guard case .success(let value) = result else { Issue.record("expected an output, got \(result)"); return }
        // The output is the outcome, shaped once, with the values its JSON has.
        #expect(ProtobufJSON.json(value) == (try JSONValue.parse(ComponentOutput(outcome).json, what: "outcome")))
    }
}
