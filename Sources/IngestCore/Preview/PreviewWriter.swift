import Foundation
import IngestChunking
import IngestKit

/// The chunks of one document, as `--preview` lines.
struct PreviewLines: Sendable {
    var identity: DocumentIdentity
    var chunks: [Chunk]
}

/// Writes `--preview` JSON lines (``ChunkJSONLines`` with `source` and `_id`) to one file.
final class PreviewWriter: @unchecked Sendable {
    // Only touched from the batch's consuming loop (one task), so no lock is needed.
    private let handle: FileHandle

    /// Creates (or empties) the file at `path`.
    /// - Throws: ``IngestError`` `configuration` naming the file when it cannot be created.
    init(path: String) throws(IngestError) {
        guard FileManager.default.createFile(atPath: path, contents: nil), let handle = FileHandle(forWritingAtPath: path) else {
            throw IngestError(.configuration, "cannot create the preview file \(path); check that its folder exists and is writable")
        }
        self.handle = handle
    }

    func write(_ lines: PreviewLines) throws {
        var json = JSONWriter(reservingCapacity: lines.chunks.count * 1_536)
        ChunkJSONLines.append(lines.chunks, identity: lines.identity, to: &json)
        try handle.write(contentsOf: json.bytes)
    }

    func close() throws { try handle.close() }
}
