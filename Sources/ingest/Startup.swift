import ArgumentParser
import IngestCore
import IngestKit
import IngestService
import Logging

/// The start of every command that talks to the services (run, serve, doctor, embed): one
/// configuration reader (the command's flags over the environment), the runtime built from it,
/// and one way to fail: the message, then exit status 2 (README, "Exit status").
enum Startup {
    /// Builds the runtime from `configuration`; on a configuration error calls `report` with it
    /// and throws `ExitCode(2)`.
    static func runtime(
        _ configuration: Environment,
        forWorker: Bool = false,
        logger: Logger,
        report: (IngestError) -> Void = { Terminal.error($0.message) }
    ) throws -> Runtime {
        do {
            return try Runtime(configuration: configuration, forWorker: forWorker, logger: logger)
        } catch let error as IngestError {
            report(error)
            throw ExitCode(2)
        }
    }

    /// The start of a long-running service (`serve`, `serve-embeddings`): JSON log lines on
    /// stderr at INGEST_LOG_LEVEL (default info) and the service's logger, whose `critical` line
    /// and the terminal both carry any configuration error.
    static func service(_ env: Environment, label: String) throws -> ServiceStart {
        let level = try setting { () throws(IngestError) in try env.logLevel("INGEST_LOG_LEVEL", default: .info) }
        JSONLogHandler.bootstrap(level: level)
        return ServiceStart(logger: Logger(label: label))
    }

    /// Evaluates `read` (a setting needed before the runtime, e.g. the log level); on a
    /// configuration error prints it and throws `ExitCode(2)`.
    static func setting<T>(_ read: () throws(IngestError) -> T) throws -> T {
        do {
            return try read()
        } catch {
            Terminal.error(error.message)
            throw ExitCode(2)
        }
    }
}

/// A service's logger, and its one way to fail at start: the message logged and printed, then
/// exit status 2.
struct ServiceStart {
    let logger: Logger

    /// Logs and prints a configuration error.
    func report(_ error: IngestError) {
        logger.critical("configuration error: \(error.message)")
        Terminal.error(error.message)
    }

    /// Evaluates `read`; on an ``IngestError`` reports it (prefixed by `what`, when given) and
    /// throws `ExitCode(2)`.
    func configured<T>(_ what: String? = nil, _ read: () async throws -> T) async throws -> T {
        do {
            return try await read()
        } catch let error as IngestError {
            if let what {
                logger.critical("\(what): \(error.message)")
                Terminal.error(error.message)
            } else {
                report(error)
            }
            throw ExitCode(2)
        }
    }
}

/// Options shared by the commands that embed.
struct EmbeddingOptions: ParsableArguments {
    @Option(name: .customLong("embedding-model-path"), help: "A local all-MiniLM-L6-v2 folder (Hugging Face layout): embed in process (default: EMBEDDING_MODEL_PATH).")
    var embeddingModelPath: String?

    /// The flags, as overrides of their variables.
    var flags: [Environment.Flag] {
        embeddingModelPath.map { [Environment.Flag("EMBEDDING_MODEL_PATH", spelling: "--embedding-model-path", value: $0)] } ?? []
    }
}
