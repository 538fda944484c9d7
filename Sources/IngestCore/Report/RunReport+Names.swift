/// The files a run ends by naming, so a person sees which files need attention without opening
/// the report: failed and skipped documents with their reason, and pruned sources.
extension RunReport {
    /// One line per failed, skipped and pruned entry, at most `limit` of each kind (a last line
    /// says how many more the report holds). `failures` is false where each failure was already
    /// printed as it happened (not a terminal).
    package func namedEntries(failures: Bool = true, limit: Int = 50) -> [String] {
        var lines: [String] = []
        func add<S: Sequence>(_ entries: S, kind: String, _ line: (S.Element) -> String) {
            let all = Array(entries)
            lines += all.prefix(limit).map(line)
            if all.count > limit { lines.append("… and \(all.count - limit) more \(kind) (the --report file lists them all)") }
        }
        if failures {
            add(documents.filter { $0.status == .failed }, kind: "failed") { "failed:  \($0.source): \($0.error.map { "\($0.reason): \($0.message)" } ?? "no reason recorded")" }
        }
        add(documents.filter { $0.status == .skipped }, kind: "skipped") { "skipped: \($0.source): \($0.error?.message ?? "not a type Docling converts")" }
        add(pruned ?? [], kind: "pruned") { "pruned:  \($0.source) (\($0.chunks) chunk\($0.chunks == 1 ? "" : "s") deleted: the file is gone)" }
        return lines
    }
}
