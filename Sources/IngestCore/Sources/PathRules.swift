import Foundation
import IngestKit

/// Path handling shared by the CLI and the worker: canonical real paths (the `source` identity)
/// and the allowed-roots rule the worker applies to every local path it is given.
package enum PathRules {
    /// The absolute path with symlinks and `..` resolved (what is compared and stored).
    package static func canonical(_ path: String) -> String {
        let absolute = path.hasPrefix("/") ? path : FileManager.default.currentDirectoryPath + "/" + path
        if let resolved = realpath(absolute, nil) {
            defer { free(resolved) }
            return String(cString: resolved)
        }
        return URL(fileURLWithPath: absolute).standardizedFileURL.path
    }

    /// Whether `canonicalPath` lies inside one of `roots` (each already canonical).
    package static func isUnder(_ canonicalPath: String, roots: [String]) -> Bool {
        roots.contains { root in
            let r = root.hasSuffix("/") ? String(root.dropLast()) : root
            return canonicalPath == r || canonicalPath.hasPrefix(r + "/") || r.isEmpty
        }
    }

    /// Throws `invalid_input` unless `path` resolves under `roots`; returns the canonical path.
    /// A check of the name only: ``DocumentReader`` opens that path once and checks the open
    /// file's own path again, so nothing swapped in after this check is read.
    package static func checkAllowed(_ path: String, roots: [String]?) throws -> String {
        let resolved = canonical(path)
        guard let roots else { return resolved }
        guard !roots.isEmpty else {
            throw IngestError(.invalidInput, "local path \(path) refused: this worker reads no local files (set INGEST_ALLOWED_ROOTS to the directories it may read)")
        }
        guard isUnder(resolved, roots: roots) else {
            throw IngestError(.invalidInput, "local path \(path) refused: it resolves to \(resolved), outside INGEST_ALLOWED_ROOTS (\(roots.joined(separator: ":")))")
        }
        return resolved
    }
}
