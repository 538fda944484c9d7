import IngestCore
import IngestKit
import Testing

/// `ingest embed` and `ingest search` exit 2 when the call could not be made as asked, 1 when
/// the service failed at it; every reason has its status (the switch has no default).
@Suite struct ExitStatusTests {
    @Test(arguments: IngestError.Reason.allCases)
    func everyReasonHasAStatus(reason: IngestError.Reason) {
        let twos: Set<IngestError.Reason> = [.authFailed, .dimensionMismatch, .configuration, .serviceUnavailable, .invalidInput]
        #expect(ExitStatus.oneCall(IngestError(reason, "m")) == (twos.contains(reason) ? 2 : 1))
    }

    @Test func aFailureThePreflightMarkedStopsWithTwo() {
        var error = IngestError(.embedFailed, "m")
        error.stopsRun = true
        #expect(ExitStatus.oneCall(error) == 2)
    }
}
