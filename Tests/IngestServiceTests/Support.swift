import IngestService
import Logging
import Synchronization

/// Collects JSON log lines in memory.
final class LogCollector: Sendable {
    private let store = Mutex<[String]>([])
    var lines: [String] { store.withLock { $0 } }
    var sink: JSONLogSink { JSONLogSink { line in self.store.withLock { $0.append(line) } } }
}

let quietLogger: Logger = {
    var logger = Logger(label: "ingest-service-tests")
    logger.logLevel = .critical
    return logger
}()

/// Repeats `condition` until it returns a value or `timeout` passes.
func eventually<T: Sendable>(timeout: Duration = .seconds(60), _ condition: @Sendable () async -> T?) async throws -> T {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if let value = await condition() { return value }
        try await Task.sleep(for: .milliseconds(10))
    }
    throw TimedOut()
}

struct TimedOut: Error {}
