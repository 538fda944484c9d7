import Foundation
import IngestKit

/// Expands the CLI's PATH arguments into the documents of a batch: files as given, directories
/// recursively (hidden files and folders skipped), with `--include`/`--exclude` globs.
package struct FileWalker: Sendable {
    package var includes: [String]
    package var excludes: [String]

    package init(includes: [String] = [], excludes: [String] = []) {
        self.includes = includes
        self.excludes = excludes
    }

    /// One file of a batch.
    package struct Entry: Sendable, Equatable {
        /// The path as the user will recognise it (argument-relative).
        package var path: String
        /// Named on the command line (a failure, not a skip, when Docling can't convert it).
        package var explicit: Bool
    }

    /// The entries for `paths`, in a stable order (arguments in order; each directory sorted).
    /// Missing paths are returned as explicit entries so they are reported as `unreadable`.
    package func expand(_ paths: [String]) -> [Entry] {
        var out: [Entry] = []
        for path in paths {
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), isDirectory.boolValue else {
                out.append(Entry(path: path, explicit: true))
                continue
            }
            out += walk(directory: path)
        }
        return out
    }

    private func walk(directory: String) -> [Entry] {
        let base = URL(fileURLWithPath: directory)
        guard let enumerator = FileManager.default.enumerator(at: base, includingPropertiesForKeys: [.isRegularFileKey], options: [.skipsHiddenFiles]) else {
            return []
        }
        var files: [String] = []
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        for case let url as URL in enumerator {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            let relative = String(url.path.dropFirst(base.path.count + 1))
            guard matches(relative) else { continue }
            files.append(prefix + relative)
        }
        return files.sorted().map { Entry(path: $0, explicit: false) }
    }

    /// Include globs (any must match, when given) then exclude globs (none may match), each
    /// tried against the path relative to its directory and against the file name.
    package func matches(_ relativePath: String) -> Bool {
        let name = (relativePath as NSString).lastPathComponent
        func hit(_ pattern: String) -> Bool {
            fnmatch(pattern, relativePath, 0) == 0 || fnmatch(pattern, name, 0) == 0
        }
        if !includes.isEmpty && !includes.contains(where: hit) { return false }
        return !excludes.contains(where: hit)
    }
}
