import IngestKit
import Testing

/// One rule decides which failures stop a batch: credentials, a dimension mismatch and bad
/// configuration do; an unreachable service does not (a Docling that restarts mid-batch fails a
/// few documents, the rest go through).
@Suite struct RunFatalTests {
    @Test func onlyRunWideReasonsStopARun() {
        let fatal: [IngestError.Reason] = [.authFailed, .dimensionMismatch, .configuration]
        let perDocument: [IngestError.Reason] = [.serviceUnavailable, .parseFailed, .parseTimeout, .embedFailed, .embedRejected, .indexRejected, .tooLarge, .unreadable, .unsupportedFormat, .emptyDocument, .leaseTimeout, .leaseLost, .resourceUnavailable, .invalidInput, .cancelled, .internalError]
        #expect(fatal.allSatisfy { $0.isRunFatal })
        #expect(perDocument.allSatisfy { !$0.isRunFatal })
        #expect(IngestError(.serviceUnavailable, "docling restarting", transient: true).isRunFatal == false)
    }
}
