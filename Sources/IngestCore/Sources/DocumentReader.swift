import Foundation
import IngestKit

/// Reads local files with the checks a user needs explained: missing, not a file, too large.
package enum DocumentReader {
    package static func read(_ path: String, displayPath: String, maxBytes: Int) throws -> Data {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw IngestError(.unreadable, "\(displayPath): no such file")
        }
        guard !isDirectory.boolValue else {
            throw IngestError(.unreadable, "\(displayPath) is a directory, not a file")
        }
        let size = (try? FileManager.default.attributesOfItem(atPath: path)[.size] as? Int) ?? 0
        guard size <= maxBytes else {
            throw IngestError(.tooLarge, "\(displayPath) has \(size) bytes, over the limit of \(maxBytes) (INGEST_MAX_FILE_BYTES)")
        }
        do {
            return try Data(contentsOf: URL(fileURLWithPath: path), options: .mappedIfSafe)
        } catch {
            throw IngestError(.unreadable, "\(displayPath) cannot be read: \((error as NSError).localizedDescription) (check its permissions)")
        }
    }
}
