import Configuration
import Foundation
import Logging

/// The one configuration reader: command-line flags over environment variables, through
/// swift-configuration's `ConfigReader` (the same reader Hummingbird's examples use), with typed,
/// strict reads on top. Every configuration (pipeline, clients, server, local embedder, logging)
/// reads through it, so a setting has one name and one rule wherever it is read.
///
/// Every bad value is a `configuration` error naming the variable (or the flag that set it), the
/// value and what is expected, so a typo never silently falls back to a default; an unset or
/// empty variable means the default. Tests build it from an in-memory dictionary.
package struct Environment: Sendable {
    /// A command-line flag that sets a variable: its value wins over the environment's.
    package struct Flag: Sendable, Equatable {
        /// The variable it overrides, e.g. `INGEST_MAX_TOKENS`.
        package var variable: String
        /// How the user wrote it, for messages, e.g. `--max-tokens`.
        package var spelling: String
        /// The value as given.
        package var value: String

        package init(_ variable: String, spelling: String, value: String) {
            self.variable = variable
            self.spelling = spelling
            self.value = value
        }
    }

    private let reader: ConfigReader
    /// Variable → flag spelling, for the variables a flag set (messages name the flag).
    private let flagSpellings: [String: String]

    /// The process environment, under `flags`.
    package init(flags: [Flag] = []) {
        self.init(flags: flags, base: EnvironmentVariablesProvider())
    }

    /// In-memory variables instead of the process environment (tests), under `flags`.
    package init(_ values: [String: String], flags: [Flag] = []) {
        var entries: [AbsoluteConfigKey: ConfigValue] = [:]
        for (name, value) in values { entries[AbsoluteConfigKey([name])] = ConfigValue(.string(value), isSecret: false) }
        self.init(flags: flags, base: InMemoryProvider(name: "variables", values: entries))
    }

    private init(flags: [Flag], base: some ConfigProvider) {
        var entries: [AbsoluteConfigKey: ConfigValue] = [:]
        var spellings: [String: String] = [:]
        for flag in flags {
            entries[AbsoluteConfigKey([flag.variable])] = ConfigValue(.string(flag.value), isSecret: false)
            spellings[flag.variable] = flag.spelling
        }
        let providers: [any ConfigProvider] = flags.isEmpty ? [base] : [InMemoryProvider(name: "flags", values: entries), base]
        self.reader = ConfigReader(providers: providers)
        self.flagSpellings = spellings
    }

    /// How a message names the source of `name`'s value: the flag when one set it.
    package func label(_ name: String) -> String {
        flagSpellings[name] ?? name
    }

    /// What to do about a bad value: a flag can only be fixed, a variable also unset.
    private func remedy(_ name: String) -> String {
        flagSpellings[name] == nil ? "fix or unset it" : "fix it"
    }

    /// The value exactly as set (not trimmed), or nil when unset or empty. For secrets whose
    /// spaces are significant (OPENSEARCH_PASSWORD); never logged.
    package func raw(_ name: String, isSecret: Bool = false) -> String? {
        guard let value = reader.string(forKey: ConfigKey([name]), isSecret: isSecret), !value.isEmpty else { return nil }
        return value
    }

    /// The trimmed value, or nil when unset or empty.
    package func string(_ name: String, isSecret: Bool = false) -> String? {
        guard let raw = raw(name, isSecret: isSecret)?.trimmingCharacters(in: .whitespacesAndNewlines), !raw.isEmpty else { return nil }
        return raw
    }

    package func string(_ name: String, default value: String) -> String {
        string(name) ?? value
    }

    /// A whole number in `range`, or nil when unset.
    package func int(_ name: String, range: ClosedRange<Int>) throws(IngestError) -> Int? {
        guard let raw = string(name) else { return nil }
        guard let parsed = Int(raw), range.contains(parsed) else {
            throw IngestError(.configuration, "\(label(name))=\(raw) is not valid: expected a whole number from \(range.lowerBound) to \(range.upperBound); \(remedy(name))")
        }
        return parsed
    }

    package func int(_ name: String, default value: Int, range: ClosedRange<Int>) throws(IngestError) -> Int {
        try int(name, range: range) ?? value
    }

    /// A number of seconds (fractions allowed) in `range`, and not zero with `excludingZero`;
    /// nil when unset.
    package func seconds(_ name: String, range: ClosedRange<Double>, excludingZero: Bool = false) throws(IngestError) -> Duration? {
        guard let raw = string(name) else { return nil }
        guard let parsed = Double(raw), range.contains(parsed), !(excludingZero && parsed == 0) else {
            let bounds = "from \(Self.format(range.lowerBound)) to \(Self.format(range.upperBound))"
            throw IngestError(.configuration, "\(label(name))=\(raw) is not valid: expected a number of seconds \(bounds)\(excludingZero ? ", not zero" : ""); \(remedy(name))")
        }
        return .milliseconds(Int64((parsed * 1000).rounded()))
    }

    /// As ``seconds(_:range:excludingZero:)``, with a default; by default from 1 ms to a week.
    package func seconds(_ name: String, default value: Duration, range: ClosedRange<Double> = 0.001...604_800, excludingZero: Bool = false) throws(IngestError) -> Duration {
        try seconds(name, range: range, excludingZero: excludingZero) ?? value
    }

    private static func format(_ value: Double) -> String {
        value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : String(value)
    }

    /// `true`/`false` (also 1/0, yes/no, on/off).
    package func bool(_ name: String, default value: Bool) throws(IngestError) -> Bool {
        guard let raw = string(name)?.lowercased() else { return value }
        switch raw {
        case "1", "true", "yes", "on": return true
        case "0", "false", "no", "off": return false
        default: throw IngestError(.configuration, "\(label(name))=\(raw) is not valid: expected true or false")
        }
    }

    /// A log level (trace, debug, info, notice, warning, error, critical; any case).
    package func logLevel(_ name: String, default value: Logger.Level) throws(IngestError) -> Logger.Level {
        guard let raw = string(name) else { return value }
        guard let level = Logger.Level(rawValue: raw.lowercased()) else {
            let levels = Logger.Level.allCases.map(\.rawValue).joined(separator: ", ")
            throw IngestError(.configuration, "\(label(name))=\(raw) is not valid: expected one of \(levels); \(remedy(name))")
        }
        return level
    }

    /// A JSON object (e.g. DOCLING_CONVERT_OPTIONS).
    package func jsonObject(_ name: String) throws(IngestError) -> [String: JSONValue] {
        guard let raw = string(name) else { return [:] }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: Data(raw.utf8)), let object = value.objectValue else {
            throw IngestError(.configuration, "\(label(name)) must be a JSON object, e.g. {\"do_ocr\":false}; got: \(raw.prefix(200))")
        }
        return object
    }

    package func list(_ name: String, separator: Character) -> [String] {
        guard let raw = string(name) else { return [] }
        return raw.split(separator: separator).map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// An absolute http(s) URL with a host (a service's base URL).
    package func httpURL(_ name: String, default value: String) throws(IngestError) -> String {
        let url = string(name) ?? value
        guard HTTPURL(url) != nil else {
            throw IngestError(.configuration, "\(label(name))=\(redactingCredentials(url)) is not an http(s) URL (e.g. http://localhost:5001)")
        }
        return url
    }
}
