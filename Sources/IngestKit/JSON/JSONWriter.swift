/// The package's one hand-written JSON writer: compact, one line, appended to a byte buffer.
/// `_bulk` lines (``JSONValue`` fields and typed chunk records), `ingest chunk`'s JSON Lines
/// and `--preview` all write through it. By hand rather than with `JSONEncoder`: on Linux that
/// encoder orders unsorted keys by hash and costs more than chunking, and typed records go to
/// bytes without an intermediate dictionary. (``JSONValue/jsonData()`` stays on `JSONEncoder`:
/// its bytes feed document hashes, which must not change.)
///
/// Objects and arrays are written by the caller (`{`, ``key(_:)``, a value, …, `}`); a comma
/// is placed before a key or an element unless it is the first in its container.
package struct JSONWriter: Sendable {
    /// The bytes written so far.
    package var bytes: [UInt8]

    package init(reservingCapacity capacity: Int = 0) {
        bytes = []
        bytes.reserveCapacity(capacity)
    }

    /// A NaN or infinity at `path` (JSON has no spelling for them).
    package struct NonFiniteNumber: Error {
        package var path: String
    }

    // MARK: - Structure

    /// Text copied as is (punctuation, a pre-encoded fragment).
    package mutating func raw(_ text: String) {
        var text = text
        text.withUTF8 { bytes.append(contentsOf: $0) }
    }

    package mutating func raw(_ byte: UInt8) { bytes.append(byte) }

    /// A comma unless the last byte opened a container: call before an element or a key.
    package mutating func separator() {
        if let last = bytes.last, last != UInt8(ascii: "{"), last != UInt8(ascii: "["), last != UInt8(ascii: ":") {
            bytes.append(UInt8(ascii: ","))
        }
    }

    /// `"key":`, after a comma when it is not the object's first member.
    package mutating func key(_ key: String) {
        separator()
        string(key)
        bytes.append(UInt8(ascii: ":"))
    }

    // MARK: - Scalars

    /// A JSON string literal (RFC 8259): quotes, backslashes and control characters escaped,
    /// everything else copied as UTF-8 in runs (a byte-at-a-time append was the slowest part of
    /// `ingest chunk`'s benchmark).
    package mutating func string(_ string: String) {
        bytes.append(UInt8(ascii: "\""))
        var string = string
        string.withUTF8 { source in
            var runStart = 0
            for (i, byte) in source.enumerated() where byte < 0x20 || byte == 0x22 || byte == 0x5C {
                if runStart < i { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart..<i])) }
                runStart = i + 1
                switch byte {
                case 0x22: bytes.append(contentsOf: [0x5C, 0x22])
                case 0x5C: bytes.append(contentsOf: [0x5C, 0x5C])
                case 0x0A: bytes.append(contentsOf: [0x5C, UInt8(ascii: "n")])
                case 0x0D: bytes.append(contentsOf: [0x5C, UInt8(ascii: "r")])
                case 0x09: bytes.append(contentsOf: [0x5C, UInt8(ascii: "t")])
                default:
                    bytes.append(contentsOf: [0x5C, UInt8(ascii: "u"), 0x30, 0x30, Self.hexDigits[Int(byte >> 4)], Self.hexDigits[Int(byte & 0xF)]])
                }
            }
            if runStart < source.count { bytes.append(contentsOf: UnsafeBufferPointer(rebasing: source[runStart...])) }
        }
        bytes.append(UInt8(ascii: "\""))
    }

    package mutating func int(_ value: Int) { raw(String(value)) }

    package mutating func bool(_ value: Bool) { raw(value ? "true" : "false") }

    /// A Float in its shortest round-trip form; the caller checked it is finite.
    package mutating func float(_ value: Float) { raw(value.description) }

    /// A number: Float's shortest round-trip form when `value` is a widened Float (`0.1`, not
    /// `0.10000000149011612`: vectors are float32 on the server anyway, and the text is about
    /// 40 % shorter), Double's otherwise.
    /// - Throws: ``NonFiniteNumber`` naming `path` for NaN or infinity.
    package mutating func number(_ value: Double, path: String) throws(NonFiniteNumber) {
        guard let text = Self.numberText(value) else { throw NonFiniteNumber(path: path) }
        raw(text)
    }

    /// The text ``number(_:path:)`` writes, or nil for NaN or infinity.
    package static func numberText(_ value: Double) -> String? {
        guard value.isFinite else { return nil }
        let float = Float(value)
        if float.isFinite, Double(float) == value { return float.description }
        return value.description
    }

    // MARK: - Arrays

    /// `["a","b"]`.
    package mutating func strings(_ values: [String]) {
        bytes.append(UInt8(ascii: "["))
        for value in values { separator(); string(value) }
        bytes.append(UInt8(ascii: "]"))
    }

    /// `[1,2]`.
    package mutating func ints(_ values: [Int]) {
        bytes.append(UInt8(ascii: "["))
        for value in values { separator(); int(value) }
        bytes.append(UInt8(ascii: "]"))
    }

    /// `[f1,f2,…]`, each Float in its shortest round-trip form; the caller checked they are finite.
    package mutating func floats(_ values: [Float]) {
        bytes.append(UInt8(ascii: "["))
        for value in values { separator(); float(value) }
        bytes.append(UInt8(ascii: "]"))
    }

    // MARK: - Any value

    /// `value` with object keys sorted, numbers as ``number(_:path:)`` writes them.
    /// - Parameter path: where `value` sits (dotted keys), for ``NonFiniteNumber``.
    package mutating func value(_ value: JSONValue, path: String) throws(NonFiniteNumber) {
        switch value {
        case .null: raw("null")
        case .bool(let flag): bool(flag)
        case .int(let number): int(number)
        case .double(let number): try self.number(number, path: path)
        case .string(let text): string(text)
        case .array(let items):
            bytes.append(UInt8(ascii: "["))
            for item in items {
                separator()
                try self.value(item, path: path)
            }
            bytes.append(UInt8(ascii: "]"))
        case .object(let fields):
            bytes.append(UInt8(ascii: "{"))
            for key in fields.keys.sorted() {
                self.key(key)
                // Non-nil: `key` comes from `fields.keys`.
                try self.value(fields[key] ?? .null, path: path.isEmpty ? key : path + "." + key)
            }
            bytes.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)
}
