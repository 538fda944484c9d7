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
