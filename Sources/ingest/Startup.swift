import ArgumentParser
import IngestCore
import IngestKit
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

/// Options shared by the commands that embed.
struct EmbeddingOptions: ParsableArguments {
    @Option(name: .customLong("embedding-model-path"), help: "A local all-MiniLM-L6-v2 folder (Hugging Face layout): embed in process (default: EMBEDDING_MODEL_PATH).")
    var embeddingModelPath: String?

    /// The flags, as overrides of their variables.
    var flags: [Environment.Flag] {
        embeddingModelPath.map { [Environment.Flag("EMBEDDING_MODEL_PATH", spelling: "--embedding-model-path", value: $0)] } ?? []
    }
}
