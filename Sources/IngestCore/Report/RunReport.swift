import Foundation
import IngestKit

/// The `--report FILE.json` document and the final summary: one entry per document plus totals.
package struct RunReport: Sendable, Codable, Equatable {
    package struct Totals: Sendable, Codable, Equatable {
        package var documents = 0
        package var indexed = 0
        package var unchanged = 0
        package var skipped = 0
        package var failed = 0
        package var chunks = 0
        package var seconds = 0.0
        package var pruned: Int?
        package init() {}
    }

    /// A source whose file is gone and whose chunks `--prune` deleted.
    package struct Pruned: Sendable, Codable, Equatable {
        package var source: String
        package var chunks: Int
        package init(source: String, chunks: Int) { self.source = source; self.chunks = chunks }
    }

    /// Why `--prune` did not finish: listing the index's sources or deleting one failed.
    package struct PruneError: Sendable, Codable, Equatable {
        package var reason: IngestError.Reason
        package var message: String
    }

    package var documents: [DocumentOutcome] = []
    package var pruned: [Pruned]?
    /// Set when `--prune` failed; the run exits 1 (`pruned` lists what was deleted before).
    package var pruneError: PruneError?
    package var totals = Totals()
    /// Documents not started because the run was interrupted or stopped by a fatal error.
    package var notStarted: Int?

    package init() {}

    package mutating func add(_ outcome: DocumentOutcome) {
        documents.append(outcome)
        totals.documents += 1
        switch outcome.status {
        case .indexed: totals.indexed += 1
        case .unchanged: totals.unchanged += 1
        case .skipped: totals.skipped += 1
        case .failed: totals.failed += 1
        }
        if outcome.status == .indexed || outcome.status == .unchanged { totals.chunks += outcome.chunks }
    }

    enum CodingKeys: String, CodingKey {
        case documents, pruned, totals, notStarted = "not_started", pruneError = "prune_error"
    }

    /// Pretty JSON with sorted keys (stable diffs between runs).
    package func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }

    /// The one-line summary printed at the end of every run.
    package var summaryLine: String {
        var parts = ["\(totals.indexed) indexed", "\(totals.unchanged) unchanged", "\(totals.skipped) skipped", "\(totals.failed) failed",
                     "\(totals.chunks) chunks", String(format: "%.1fs", totals.seconds)]
        if let p = pruned { parts.insert("\(p.count) pruned" + (pruneError == nil ? "" : " (prune failed)"), at: 4) }
        if let n = notStarted, n > 0 { parts.append("\(n) not started") }
        return parts.joined(separator: ", ")
    }
}
