import Foundation
import IngestChunking
import IngestDocling
import IngestKit

/// What a batch run was asked to do (the CLI's options).
package struct BatchOptions: Sendable {
    package var paths: [String]
    package var includes: [String] = []
    package var excludes: [String] = []
    package var prune = false
    /// `--preview FILE.jsonl`: convert and chunk only, write chunks there.
    package var previewPath: String?
    package var request = IngestRequest(input: .path(""))

    package init(paths: [String]) { self.paths = paths }
}

/// Receives progress as documents finish (the CLI draws a progress bar or prints lines).
package protocol BatchObserver: Sendable {
    func started(total: Int) async
    func finished(_ outcome: DocumentOutcome, done: Int, total: Int) async
    /// The document `source` reached `stage` (called from the pipeline's task: keep it quick).
    func stage(_ stage: IngestStage, of source: String)
}

extension BatchObserver {
    package func stage(_ stage: IngestStage, of source: String) {}
}

/// Lets Ctrl-C stop a batch gently: no new documents start, those in flight finish.
package actor StopSignal {
    package private(set) var isStopped = false
    package init() {}
    package func stop() { isStopped = true }
}

/// Runs a batch of local documents through the pipeline with bounded concurrency, so memory
/// stays flat over a directory of any size (at most `concurrency` documents are held at once).
/// One bad file never stops the batch; only run-wide problems (credentials, a dimension that
/// does not match the index, bad configuration) stop new documents from starting.
package struct BatchRunner: Sendable {
    package var pipeline: IngestPipeline

    package init(pipeline: IngestPipeline) { self.pipeline = pipeline }

    /// The result of a run: the report, and the run-wide error that stopped it, if any.
    package struct Result: Sendable {
        package var report: RunReport
        package var fatal: IngestError?
        package var interrupted: Bool

        /// The exit status this result calls for (README, "Exit status"): 2 when a run-wide
        /// error stopped it, 130 when interrupted, 1 when a document failed or `--prune` could
        /// not finish, else 0.
        package var exitStatus: Int32 {
            if fatal != nil { return 2 }
            if interrupted { return 130 }
            if report.totals.failed > 0 || report.pruneError != nil { return 1 }
            return 0
        }
    }

    /// Checks the services the run needs before any document is touched, so an unreachable
    /// service or wrong credentials exit at once with one clear message.
    package func preflight(preview: Bool) async throws {
        try await pipeline.converter.checkHealth()
        if !preview { try await pipeline.index.checkHealth() }
    }

    package func run(_ options: BatchOptions, observer: (any BatchObserver)?, stop: StopSignal) async -> Result {
        let clock = ContinuousClock()
        let start = clock.now
        let entries = FileWalker(includes: options.includes, excludes: options.excludes).expand(options.paths)
        await observer?.started(total: entries.count)
        var report = RunReport()
        var fatal: IngestError?
        var preview: PreviewWriter?
        if let path = options.previewPath {
            do { preview = try PreviewWriter(path: path) } catch let error as IngestError {
                return Result(report: report, fatal: error, interrupted: false)
            } catch {
                return Result(report: report, fatal: IngestError(.configuration, "cannot write \(path): \(error)"), interrupted: false)
            }
        }

        var next = 0
        var done = 0
        await withTaskGroup(of: (DocumentOutcome, PreviewLines?).self) { group in
            func startNext() async -> Bool {
                guard next < entries.count, fatal == nil, !(await stop.isStopped), !Task.isCancelled else { return false }
                let entry = entries[next]
                next += 1
                group.addTask {
                    let source = PathRules.canonical(entry.path)
                    return await StageProgress.$current.withValue(StageProgress { stage in observer?.stage(stage, of: source) }) {
                        await self.process(entry, options: options)
                    }
                }
                return true
            }
            for _ in 0..<max(1, pipeline.settings.concurrency) {
                guard await startNext() else { break }
            }
            while let (outcome, lines) = await group.next() {
                if let lines, let preview {
                    do { try preview.write(lines) } catch {
                        fatal = IngestError(.configuration, "cannot write the preview file: \(error)")
                    }
                }
                report.add(outcome)
                done += 1
                if let error = outcome.error, error.reason.isRunFatal || error.stopsRun {
                    fatal = fatal ?? IngestError(error.reason, error.message)
                }
                await observer?.finished(outcome, done: done, total: entries.count)
                _ = await startNext()
            }
        }
        try? preview?.close()
        let interrupted = await stop.isStopped || Task.isCancelled
        if next < entries.count { report.notStarted = entries.count - next }

        if options.prune && fatal == nil && !interrupted && options.previewPath == nil {
            var pruned: [RunReport.Pruned] = []
            do {
                try await prune(options, into: &pruned)
            } catch {
                let failure = error as? IngestError ?? IngestError(.internalError, "\(error)")
                report.pruneError = .init(reason: failure.reason, message: "--prune stopped: \(failure.message)")
            }
            report.pruned = pruned
        }
        report.totals.seconds = (clock.now - start).seconds
        if let pruned = report.pruned { report.totals.pruned = pruned.count }
        return Result(report: report, fatal: fatal, interrupted: interrupted)
    }

    /// One document: read, then preview or ingest. Never throws: failures become outcomes.
    private func process(_ entry: FileWalker.Entry, options: BatchOptions) async -> (DocumentOutcome, PreviewLines?) {
        let canonical = PathRules.canonical(entry.path)
        if !entry.explicit && !MimeTypes.isConvertible(entry.path) {
            let ext = (entry.path as NSString).pathExtension
            return (DocumentOutcome(source: canonical, filename: (entry.path as NSString).lastPathComponent, status: .skipped,
                                    error: .init(reason: .unsupportedFormat,
                                                 message: "\(entry.path): Docling does not convert .\(ext.isEmpty ? "(no extension)" : ext) files")), nil)
        }
        var request = options.request
        request.input = .path(entry.path)
        let loaded: SourceDocument
        do {
            loaded = try await pipeline.load(request)
        } catch let error as IngestError {
            return (DocumentOutcome(source: canonical, filename: (entry.path as NSString).lastPathComponent, status: .failed, error: .init(error)), nil)
        } catch {
            return (DocumentOutcome(source: canonical, status: .failed, error: .init(reason: .internalError, message: "\(error)")), nil)
        }
        if options.previewPath != nil {
            return await previewOne(loaded, request: request, explicit: entry.explicit)
        }
        var outcome = await pipeline.ingest(loaded, request: request)
        if outcome.status == .skipped && entry.explicit {
            // A file named explicitly that cannot be converted is a failure, not a skip.
            outcome.status = .failed
        }
        return (outcome, nil)
    }

    private func previewOne(_ loaded: SourceDocument, request: IngestRequest, explicit: Bool) async -> (DocumentOutcome, PreviewLines?) {
        do {
            let (id, chunks, converted) = try await pipeline.preview(loaded, request: request)
            var outcome = DocumentOutcome(source: loaded.source, documentID: id.documentID, filename: loaded.filename, status: .indexed, chunks: chunks.count, pages: converted.document.pageCount, warnings: IngestPipeline.warnings(of: converted))
            if chunks.isEmpty {
                outcome.status = .failed
                outcome.error = .init(reason: .emptyDocument, message: "\(loaded.filename): no text to index")
            }
            return (outcome, PreviewLines(identity: id, chunks: chunks))
        } catch let error as IngestError {
            let status: DocumentOutcome.Status = (error.reason == .unsupportedFormat && !explicit) ? .skipped : .failed
            return (DocumentOutcome(source: loaded.source, filename: loaded.filename, status: status, error: .init(error)), nil)
        } catch {
            return (DocumentOutcome(source: loaded.source, filename: loaded.filename, status: .failed, error: .init(reason: .internalError, message: "\(error)")), nil)
        }
    }

    /// `--prune`: deletes the chunks of sources under the directory arguments whose files are gone,
    /// appending each to `out`. Stops at the first listing or delete that fails (after the index
    /// client's own retries): the run then reports why and exits 1, never "0 pruned".
    private func prune(_ options: BatchOptions, into out: inout [RunReport.Pruned]) async throws {
        let index = options.request.index ?? pipeline.settings.index
        for path in options.paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else { continue }
            let root = PathRules.canonical(path)
            let prefix = root.hasSuffix("/") ? root : root + "/"
            let sources = try await pipeline.index.sources(index: index, prefix: prefix)
            for source in sources where !FileManager.default.fileExists(atPath: source) {
                let deleted = try await pipeline.index.deleteChunks(index: index, source: source, keepGeneration: nil)
                out.append(.init(source: source, chunks: deleted))
            }
        }
    }
}

/// The chunks of one document, as `--preview` lines.
struct PreviewLines: Sendable {
    var identity: DocumentIdentity
    var chunks: [Chunk]
}

/// Writes `--preview` JSON lines: the `ingest chunk` fields plus `source` and the `_id`.
final class PreviewWriter: @unchecked Sendable {
    // Only touched from the batch's consuming loop (one task), so no lock is needed.
    private let handle: FileHandle
    private let encoder: JSONEncoder

    init(path: String) throws {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw IngestError(.configuration, "cannot create the preview file \(path)")
        }
        self.handle = handle
        self.encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    }

    private struct Line: Encodable {
        var chunk: Chunk
        var source: String
        var id: String
        enum Keys: String, CodingKey { case source, id = "_id" }
        func encode(to encoder: any Encoder) throws {
            try chunk.encode(to: encoder)
            var c = encoder.container(keyedBy: Keys.self)
            try c.encode(source, forKey: .source)
            try c.encode(id, forKey: .id)
        }
    }

    func write(_ lines: PreviewLines) throws {
        var data = Data()
        for chunk in lines.chunks {
            data.append(try encoder.encode(Line(chunk: chunk, source: lines.identity.source, id: lines.identity.chunkID(chunk.chunkIndex))))
            data.append(0x0A)
        }
        try handle.write(contentsOf: data)
    }

    func close() throws { try handle.close() }
}
