import Foundation
import IngestCore
import IngestKit
import Logging

/// The CLI logs warnings and errors to stderr (INGEST_LOG_LEVEL raises or lowers that); the
/// progress bar and the summary are its normal output.
enum CLILogging {
    static func logger(_ env: Environment) -> Logger {
        let level = env.string("INGEST_LOG_LEVEL").flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? .warning
        var logger = Logger(label: "ingest") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level
        return logger
    }
}
