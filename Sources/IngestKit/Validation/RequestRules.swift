/// The rules for settings that a request may carry as well as the configuration: each is checked
/// here and only here, by the environment reader, the CLI and the worker's input parser alike.
/// Only the reason differs with where the value came from: `configuration` for a variable or
/// flag (exit 2), `invalid_input` for a worker request (JSON-RPC -32602).

/// The chunk budget in model tokens, [CLS]/[SEP] included.
package enum TokenBudget {
    /// Below 16 a chunk holds a word or two; above 8192 no embedding model we know takes it.
    package static let range = 16...8192

    /// Why `value` is not a usable budget, or nil.
    package static func problem(_ value: Int) -> String? {
        range.contains(value) ? nil : "must be a whole number from \(range.lowerBound) to \(range.upperBound), got \(value)"
    }

    /// Throws `reason` naming `setting` when `value` is out of ``range``.
    package static func check(_ value: Int, setting: String, reason: IngestError.Reason) throws(IngestError) {
        if let problem = problem(value) { throw IngestError(reason, "\(setting) \(problem)") }
    }
}

/// An OpenSearch index (or alias) name.
package enum IndexName {
    /// Why OpenSearch would refuse `name`, or nil.
    package static func problem(_ name: String) -> String? {
        if name.isEmpty { return "it is empty" }
        if name == "." || name == ".." { return "it is . or .." }
        if name.utf8.count > 255 { return "it is longer than 255 bytes" }
        if let first = name.first, "_-+".contains(first) { return "it starts with \(first)" }
        if name != name.lowercased() { return "it has upper-case letters" }
        if let bad = name.first(where: { "\\/*?\"<>| ,#:".contains($0) }) { return "it contains '\(bad)'" }
        return nil
    }

    /// Throws `reason` naming `setting` when OpenSearch would refuse `name`.
    package static func check(_ name: String, setting: String, reason: IngestError.Reason) throws(IngestError) {
        if let problem = problem(name) {
            throw IngestError(reason, "index name '\(name)' is not valid for OpenSearch: \(problem); use lowercase letters, digits, '-' or '_' (\(setting))")
        }
    }
}
