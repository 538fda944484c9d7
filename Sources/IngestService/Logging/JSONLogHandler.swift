import Foundation
import IngestKit
import Logging

/// A swift-log handler writing one JSON object per line to stderr (`time`, `level`, `message`,
/// `label`, then the metadata), so log collectors in a pod parse the worker's logs without
/// patterns. Bootstrap it once: `LoggingSystem.bootstrap(JSONLogHandler.init)`.
package struct JSONLogHandler: LogHandler {
    /// Messages below this level are dropped.
    package var logLevel: Logger.Level
    /// Metadata added to every line of this logger.
    package var metadata: Logger.Metadata = [:]
    /// Metadata added from the task context (e.g. tracing).
    package var metadataProvider: Logger.MetadataProvider?
    private let label: String
    private let sink: JSONLogSink

    /// A handler for `label` writing to stderr at `info` (the logger's level can be raised or lowered).
    package init(label: String) {
        self.init(label: label, level: .info, sink: .standardError)
    }

    /// A handler with an explicit level and sink (tests collect lines in memory).
    package init(label: String, level: Logger.Level, sink: JSONLogSink = .standardError, metadataProvider: Logger.MetadataProvider? = nil) {
        self.label = label
        self.logLevel = level
        self.sink = sink
        self.metadataProvider = metadataProvider
    }

    package subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    /// Writes `event` as one JSON line; event metadata wins over logger metadata.
    package func log(event: LogEvent) {
        var merged = metadata
        if let provided = metadataProvider?.get() { merged.merge(provided, uniquingKeysWith: { _, new in new }) }
        if let extra = event.metadata { merged.merge(extra, uniquingKeysWith: { _, new in new }) }
        var object: [String: JSONValue] = [
            "time": .string(Self.timestamp()),
            "level": .string(event.level.rawValue),
            "message": .string(event.message.description),
            "label": .string(label),
        ]
        if let error = event.error { object["error"] = .string(String(describing: error)) }
        for (key, value) in merged where object[key] == nil {
            object[key] = Self.json(value)
        }
        sink.write(JSONValue.object(object).jsonString())
    }

    private static func json(_ value: Logger.Metadata.Value) -> JSONValue {
        switch value {
        case .string(let s): .string(s)
        case .stringConvertible(let c): .string(c.description)
        case .array(let a): .array(a.map(json))
        case .dictionary(let d): .object(d.mapValues(json))
        }
    }

    private static func timestamp() -> String {
        Date.ISO8601FormatStyle(includingFractionalSeconds: true).format(Date())
    }
}

/// Where JSON log lines go: stderr in production, memory in tests.
package struct JSONLogSink: Sendable {
    private let emit: @Sendable (String) -> Void

    /// A sink calling `emit` with each line (no trailing newline).
    package init(_ emit: @escaping @Sendable (String) -> Void) { self.emit = emit }

    func write(_ line: String) { emit(line) }

    /// Writes each line plus a newline to stderr in one write, so concurrent lines do not interleave.
    package static let standardError = JSONLogSink { line in
        var data = Data(line.utf8)
        data.append(0x0A)
        try? FileHandle.standardError.write(contentsOf: data)
    }
}

extension JSONLogHandler {
    /// Makes JSON lines on stderr the process's log format, at `level`. Once per process, before
    /// the first logger (both `ingest serve` and `ingest serve-embeddings` start with it).
    package static func bootstrap(level: Logger.Level) {
        LoggingSystem.bootstrap { label in
            var handler = JSONLogHandler(label: label)
            handler.logLevel = level
            return handler
        }
    }
}
