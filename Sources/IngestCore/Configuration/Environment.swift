import Foundation
import IngestKit

/// Typed reads of environment variables. Every bad value is a `configuration` error naming the
/// variable, the value and what is expected, so a typo never silently falls back to a default.
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

    package func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws -> Int {
        guard let raw = string(name) else { return value }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw IngestError(.configuration, "\(name)=\(raw) is not valid: expected a whole number from \(range.lowerBound) to \(range.upperBound)")
        }
        return parsed
    }

    package func seconds(_ name: String, default value: Double, range: ClosedRange<Double> = 0.001...604_800) throws -> Duration {
        guard let raw = string(name) else { return .milliseconds(Int64(value * 1000)) }
        guard let parsed = Double(raw), range.contains(parsed) else {
            throw IngestError(.configuration, "\(name)=\(raw) is not valid: expected a number of seconds from \(range.lowerBound) to \(range.upperBound)")
        }
        return .milliseconds(Int64(parsed * 1000))
    }

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
