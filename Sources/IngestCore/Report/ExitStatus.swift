import IngestKit

/// The exit status of a command that makes one call (`ingest embed`, `ingest search`) and
/// failed with `error` (README, "Exit status"): 2 when the call could not be made as asked
/// (run-wide failures, an unreachable service, a request the service refuses as given, such as
/// an index that does not exist), 1 when the service failed at it.
package enum ExitStatus {
    package static func oneCall(_ error: IngestError) -> Int32 {
        if error.stopsRun { return 2 }
        // No `default`: a new reason must be given its status here on purpose.
        switch error.reason {
        case .authFailed, .dimensionMismatch, .configuration, .serviceUnavailable, .invalidInput:
            return 2
        case .unreadable, .unsupportedFormat, .tooLarge, .parseFailed, .parseTimeout, .emptyDocument, .embedFailed,
            .embedRejected, .indexRejected, .leaseTimeout, .leaseLost, .resourceUnavailable, .cancelled, .internalError:
            return 1
        }
    }
}
