import Foundation

/// One orchestrator-to-worker request decoded from a wire capture in `Fixtures/stepflow/`
/// (transcripts of the real Stepflow 0.9.0 server talking to the reference worker).
struct CapturedRequest: Sendable, CustomStringConvertible {
    var file: String
    var line: Int
    var headers: [(name: String, value: String)]
    var body: String

    var description: String { "\(file):\(line)" }

    func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Reads every `REQUEST (orchestrator -> worker)` block of every capture.
    static func all() throws -> [CapturedRequest] {
        guard let root = Bundle.module.url(forResource: "Fixtures", withExtension: nil)?.appendingPathComponent("stepflow") else {
            return []
        }
        let files = try FileManager.default.contentsOfDirectory(atPath: root.path).filter { $0.hasSuffix(".txt") }.sorted()
        return try files.flatMap { name in
            try parse(String(contentsOf: root.appendingPathComponent(name), encoding: .utf8), file: name)
        }
    }

    static func parse(_ text: String, file: String) -> [CapturedRequest] {
        let lines = text.components(separatedBy: "\n")
        var result: [CapturedRequest] = []
        var index = 0
        while index < lines.count {
            guard lines[index].hasPrefix("REQUEST  (orchestrator -> worker)") else {
                index += 1
                continue
            }
            let start = index + 1
            index += 2  // request line
            var headers: [(String, String)] = []
            while index < lines.count, !lines[index].isEmpty {
                if let colon = lines[index].firstIndex(of: ":") {
                    headers.append((String(lines[index][..<colon]), lines[index][lines[index].index(after: colon)...].trimmingCharacters(in: .whitespaces)))
                }
                index += 1
            }
            while index < lines.count, lines[index] != "raw body bytes:" { index += 1 }
            index += 1
            var body: [String] = []
            while index < lines.count, lines[index] != "pretty-printed:", !lines[index].hasPrefix("-----"), !lines[index].hasPrefix("=====") {
                body.append(lines[index])
                index += 1
            }
            result.append(CapturedRequest(file: file, line: start, headers: headers, body: body.joined(separator: "\n").trimmingCharacters(in: .whitespacesAndNewlines)))
        }
        return result
    }
}
