import Foundation
import IngestKit

/// `--prune`: after the batch, delete what the index holds for files that are gone.
extension BatchRunner {
    /// `--prune`: deletes the chunks of sources under the directory arguments whose files are gone,
    /// appending each to `out`. Stops at the first listing or delete that fails (after the index
    /// client's own retries): the run then reports why and exits 1, never "0 pruned".
    func prune(_ options: BatchOptions, into out: inout [RunReport.Pruned]) async throws {
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
