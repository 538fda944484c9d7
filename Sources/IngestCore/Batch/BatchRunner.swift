import Foundation
import IngestDocling
import IngestKit

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
            do { preview = try PreviewWriter(path: path) } catch {
                return Result(report: report, fatal: error, interrupted: false)
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
}
