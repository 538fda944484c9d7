/// Where one document is in the pipeline, for a person watching a long document: the CLI's
/// progress line shows it (an 8 MB HTML file used to show nothing for minutes).
package enum IngestStage: Sendable, Equatable, CustomStringConvertible {
    case converting
    case chunking
    /// Texts embedded so far, of `total`.
    case embedding(done: Int, total: Int)
    case writing

    package var description: String {
        switch self {
        case .converting: "converting"
        case .chunking: "chunking"
        case .embedding(let done, let total): "embedding \(done)/\(total)"
        case .writing: "writing"
        }
    }
}

/// The observer of the document being ingested in this task, as a task-local value: the batch
/// runner sets it around each document, the pipeline and the embedders report to it, and child
/// tasks (concurrent embedding batches) inherit it. Nothing is reported where nobody watches.
///
/// A final class around the closure: a task-local of an optional function type crashed in
/// `swift_task_localValuePush` in release builds (Swift 6.3.1, static stdlib).
package final class StageProgress: Sendable {
    @TaskLocal package static var current: StageProgress?

    private let observe: @Sendable (IngestStage) -> Void

    package init(_ observe: @escaping @Sendable (IngestStage) -> Void) {
        self.observe = observe
    }

    /// Tells this task's observer, if any, that the document reached `stage`.
    package static func report(_ stage: IngestStage) {
        current?.observe(stage)
    }
}
