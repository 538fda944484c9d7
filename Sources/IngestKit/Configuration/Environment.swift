import Foundation

/// Typed reads of environment variables, shared by every configuration (pipeline, clients,
/// server, local embedder). Every bad value is a `configuration` error naming the variable, the
/// value and what is expected, so a typo never silently falls back to a default; an unset or
/// empty variable means the default.
package struct Environment: Sendable {
    package var values: [String: String]

    package init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    /// The trimmed value, or nil when unset or empty.
    package func string(_ name: String) -> String? {
        guard let raw = values[name]?.trimmingCharacters(in: .whitespacesAndNewlines), !raw.isEmpty else { return nil }
        return raw
    }

    package func string(_ name: String, default value: String) -> String {
        string(name) ?? value
    }

    /// A whole number in `range`, or nil when unset.
    package func int(_ name: String, range: ClosedRange<Int>) throws -> Int? {
        guard let raw = string(name) else { return nil }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw IngestError(.configuration, "\(name)=\(raw) is not valid: expected a whole number from \(range.lowerBound) to \(range.upperBound); fix or unset it")
        }
        return parsed
    }

    package func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        try int(name, range: range) ?? value
    }

    /// A number of seconds (fractions allowed) in `range`, and not zero with `excludingZero`;
    /// nil when unset.
    package func seconds(_ name: String, range: ClosedRange<Double>, excludingZero: Bool = false) throws -> Duration? {
        guard let raw = string(name) else { return nil }
        guard let parsed = Double(raw), range.contains(parsed), !(excludingZero && parsed == 0) else {
            let bounds = "from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))"
            throw IngestError(.configuration, "\(name)=\(raw) is not valid: expected a number of seconds \(bounds)\(excludingZero ? ", not zero" : ""); fix or unset it")
        }
        return .milliseconds(Int64((parsed * 1000).rounded()))
    }

    /// As ``seconds(_:range:excludingZero:)``, with a default; by default from 1 ms to a week.
    package func seconds(_ name: String, default value: Duration, range: ClosedRange<Double> = 0.001...604_800, excludingZero: Bool = false) throws -> Duration {
        try seconds(name, range: range, excludingZero: excludingZero) ?? value
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// `true`/`false` (also 1/0, yes/no, on/off).
    package func bool(_ name: String, default value: Bool) throws -> Bool {
        guard let raw = string(name)?.lowercased() else { return value }
        switch raw {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw IngestError(.configuration, "\(name)=\(raw) is not valid: expected true or false")
        }
    }

    /// A JSON object (e.g. DOCLING_CONVERT_OPTIONS).
    package func jsonObject(_ name: String) throws -> [String: JSONValue] {
        guard let raw = string(name) else { return [:] }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(raw.utf8)), let object = value.objectValue else {
            throw IngestError(.configuration, "\(name) must be a JSON object, e.g. {\"do_ocr\":false}; got: \(raw.prefix(200))")
        }
        return object
    }

    package func list(_ name: String, separator: Character) -> [String] {
        guard let raw = string(name) else { return [] }
        return raw.split(separator: separator).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }
}
