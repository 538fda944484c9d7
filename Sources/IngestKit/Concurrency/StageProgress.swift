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
package enum StageProgress {
    @TaskLocal package static var observer: (@Sendable (IngestStage) -> Void)?

    /// Tells this task's observer, if any, that the document reached `stage`.
    package static func report(_ stage: IngestStage) {
        observer?(stage)
    }
}
