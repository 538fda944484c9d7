import Foundation
import IngestCore
import IngestKit
import Logging

/// The CLI logs warnings and errors to stderr (INGEST_LOG_LEVEL raises or lowers that); the
/// progress bar and the summary are its normal output.
enum CLILogging {
    /// - Throws: `ExitCode(2)` after saying so when INGEST_LOG_LEVEL is not a level.
    static func logger(_ env: Environment) throws -> Logger {
        let level = try Startup.setting { () throws(IngestError) in try env.logLevel("INGEST_LOG_LEVEL", default: .warning) }
        var logger = Logger(label: "ingest") { StreamLogHandler.standardError(label: $0) }
        logger.logLevel = level
        return logger
    }
}
