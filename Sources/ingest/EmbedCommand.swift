import ArgumentParser
import Foundation
import IngestCore
import IngestKit

/// `ingest embed [TEXT...]`: prints one JSON array (the vector) per text, with the active
/// embedder: for checking a setup by hand and for query vectors.
struct EmbedCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "embed",
        abstract: "Print the embedding of each TEXT (or of each stdin line) as a JSON array per line."
    )

    @OptionGroup var embedding: EmbeddingOptions

    @Argument(help: "Texts to embed; without any, one text per line is read from stdin.")
    var texts: [String] = []

    func run() async throws {
        let env = Environment(flags: embedding.flags)
        let runtime = try Startup.runtime(env, logger: try CLILogging.logger(env))
        var inputs = texts
        if inputs.isEmpty {
            while let line = readLine(strippingNewline: true) { inputs.append(line) }
        }
        do {
            let vectors = try await runtime.pipeline.embedder.embed(inputs)
            var out = Data()
            for vector in vectors {
                out.append(Data(("[" + vector.map { "\($0)" }.joined(separator: ",") + "]\n").utf8))
            }
            FileHandle.standardOutput.write(out)
        } catch let error as IngestError {
            await runtime.shutdown()
            Terminal.error(error.message)
            // One call, like the run's preflight: an unreachable service is exit 2 as well.
            throw ExitCode(ExitStatus.oneCall(error))
        }
        await runtime.shutdown()
    }
}
