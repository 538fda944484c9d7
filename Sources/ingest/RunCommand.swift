import ArgumentParser
import Foundation
import IngestCore
import IngestKit
import UnixSignals

/// `ingest PATH...`: files and directories through the whole pipeline, with a report.
struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Ingest files and directories (the default command: `ingest docs/`).",
        discussion: """
            Exit status: 0 when every document is indexed, unchanged or skipped; 1 when some failed \
            (all others still done) or --prune could not list or delete; 2 for usage and configuration errors, authentication failures \
            or an unreachable service; 130 when interrupted (Ctrl-C).
            """
    )

    @Argument(help: "Files and directories (directories recursively; hidden files skipped).")
    var paths: [String]

    @Option(help: "OpenSearch index (default: OPENSEARCH_INDEX or `documents`).")
    var index: String?

    @Option(help: "Documents in flight at once (default: INGEST_CONCURRENCY or 4).")
    var concurrency: Int?

    @Option(name: .customLong("max-tokens"), help: "Chunk budget in model tokens, [CLS]/[SEP] included (default: INGEST_MAX_TOKENS or 256).")
    var maxTokens: Int?

    @Option(help: "Only files matching this glob (repeatable; matched against the relative path and the name).")
    var include: [String] = []

    @Option(help: "Skip files matching this glob (repeatable).")
    var exclude: [String] = []

    @Option(help: "Recorded as `owner` on every chunk.")
    var owner: String?

    @Option(name: .customLong("docling-option"), help: "A Docling convert option KEY=VALUE (repeatable; VALUE is JSON or text), over DOCLING_CONVERT_OPTIONS.")
    var doclingOptions: [String] = []

    @Flag(help: "Delete the chunks of sources under the directory arguments whose files no longer exist.")
    var prune = false

    @Option(help: "Write a JSON report of every document to this file.")
    var report: String?

    @Option(help: "Convert and chunk only (no embeddings, no OpenSearch); write chunks as JSON lines to this file.")
    var preview: String?

    @OptionGroup var embedding: EmbeddingOptions

    func validate() throws {
        _ = try Self.parseDoclingOptions(doclingOptions)
    }

    /// The flags that override a variable; the configuration reader checks them by the
    /// variable's rule, and its messages name the flag.
    var flags: [Environment.Flag] {
        var flags = embedding.flags
        if let index { flags.append(.init("OPENSEARCH_INDEX", spelling: "--index", value: index)) }
        if let concurrency { flags.append(.init("INGEST_CONCURRENCY", spelling: "--concurrency", value: String(concurrency))) }
        if let maxTokens { flags.append(.init("INGEST_MAX_TOKENS", spelling: "--max-tokens", value: String(maxTokens))) }
        return flags
    }

    /// `KEY=VALUE` pairs; VALUE is parsed as JSON when it is JSON (true, 3, ["a"]), else kept as text.
    static func parseDoclingOptions(_ pairs: [String]) throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        for pair in pairs {
            guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
                throw ValidationError("--docling-option expects KEY=VALUE, got '\(pair)'")
            }
            let key = String(pair[..<eq])
            let raw = String(pair[pair.index(after: eq)...])
            out[key] = (try? JSONDecoder().decode(JSONValue.self, from: Data(raw.utf8))) ?? .string(raw)
        }
        return out
    }

    func run() async throws {
        let env = Environment(flags: flags)
        let runtime = try Startup.runtime(env, logger: try CLILogging.logger(env))

        let runner = BatchRunner(pipeline: runtime.pipeline)
        do {
            try await runner.preflight(preview: preview != nil)
        } catch let error as IngestError {
            Terminal.error(error.message)
            await runtime.shutdown()
            throw ExitCode(2)
        }

        if prune && !paths.contains(where: Self.isDirectory) {
            Terminal.error("warning: --prune looks for vanished files under the directory arguments, and only files were given: nothing will be pruned")
        }
        var options = BatchOptions(paths: paths)
        options.includes = include
        options.excludes = exclude
        options.prune = prune
        options.previewPath = preview
        // Per-run request fields, as a worker step carries them: the pipeline merges the Docling
        // options over DOCLING_CONVERT_OPTIONS, key by key.
        options.request.owner = owner
        options.request.doclingOptions = try Self.parseDoclingOptions(doclingOptions)
        let progress = ProgressReporter(interactive: Terminal.isInteractive, previewing: preview != nil)
        let stop = StopSignal()

        let batch = options
        // The lease keeper renews the leases of documents in flight and releases them, also after
        // a second Ctrl-C cancelled them; it drains before the clients shut down.
        let result = await runtime.pipeline.leases.withRunning {
            await Self.runHandlingSignals(stop: stop) {
                await runner.run(batch, observer: progress, stop: stop)
            }
        }
        progress.finish()
        await runtime.shutdown()
        if result.report.totals.documents == 0 && !result.interrupted && result.fatal == nil {
            let filters = include.isEmpty && exclude.isEmpty ? "" : " matching --include/--exclude"
            Terminal.error("warning: no documents found in \(paths.joined(separator: ", "))\(filters): nothing was ingested")
        }

        if let report {
            do {
                try result.report.jsonData().write(to: URL(fileURLWithPath: report))
            } catch {
                Terminal.error("cannot write the report to \(report): \(error.localizedDescription)")
            }
        }
        // Name the files that need attention. On a terminal the bar hid the failures; elsewhere
        // each was already printed as it happened.
        for line in result.report.namedEntries(failures: Terminal.isInteractive) { Terminal.line(line) }
        Terminal.line((preview != nil ? "preview: " : "") + result.report.summaryLine)
        if preview == nil { Terminal.line("embedder: \(runtime.embedderSummary)") }
        if let fatal = result.fatal { Terminal.error(fatal.message) }
        if let pruneError = result.report.pruneError { Terminal.error(pruneError.message) }
        if result.exitStatus != 0 { throw ExitCode(result.exitStatus) }
    }

    static func isDirectory(_ path: String) -> Bool {
        var directory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &directory) && directory.boolValue
    }

    /// Runs `body` while watching SIGINT/SIGTERM: the first signal stops new documents (those in
    /// flight finish), the second abandons them (cancellation).
    static func runHandlingSignals(stop: StopSignal, _ body: @escaping @Sendable () async -> BatchRunner.Result) async -> BatchRunner.Result {
        await withTaskGroup(of: SignalRaceEvent.self) { group in
            group.addTask { .finished(await body()) }
            group.addTask {
                var count = 0
                for await _ in await UnixSignalsSequence(trapping: .sigint, .sigterm) {
                    count += 1
                    if count == 1 {
                        Terminal.line("\ninterrupted: finishing the documents in flight (press Ctrl-C again to abandon them)")
                        await stop.stop()
                    } else {
                        return .abandon
                    }
                }
                return .signalsEnded
            }
            while let event = await group.next() {
                switch event {
                case .finished(let value):
                    group.cancelAll()  // stops the signal watcher
                    return value
                case .abandon:
                    group.cancelAll()  // the batch turns its in-flight documents into outcomes and returns
                case .signalsEnded:
                    continue
                }
            }
            preconditionFailure("the batch task always reports .finished")
        }
    }
}

/// What the two children of ``RunCommand/runHandlingSignals(stop:_:)`` report.
private enum SignalRaceEvent: Sendable {
    case finished(BatchRunner.Result)
    case abandon
    case signalsEnded
}
