import IngestChunking

/// What `ingest --version` prints: the release and the chunker's version, which is part of every
/// document's generation (a new chunker version re-chunks stored documents on their next run).
enum IngestVersion {
    static let release = "0.3.0"
    static var description: String { "ingest \(release) (chunker \(DocumentChunker.version))" }
}
