import Foundation

/// A minimal pull parser over UTF-8 JSON, for the one hot path where `JSONDecoder` was most of
/// the benchmark: it reads values in place, skips what the chunker does not need without
/// building it, and never materializes a tree. Errors carry the byte offset.
package struct JSONReader {
    private let bytes: UnsafeBufferPointer<UInt8>
    package private(set) var offset = 0
    /// Current nesting of objects and arrays being read.
    private var depth = 0

    /// Deepest nesting accepted (JSONDecoder's own limit): deeper input is rejected rather than
    /// allowed to exhaust the stack.
    static let maxDepth = 512

    package struct Failure: Error {
        package var message: String
        package var offset: Int
    }

    package init(_ bytes: UnsafeBufferPointer<UInt8>) {
        self.bytes = bytes
    }

    // MARK: - Structure

    package mutating func skipWhitespace() {
        while offset < bytes.count {
            switch bytes[offset] {
            case 0x20, 0x0A, 0x0D, 0x09: offset += 1
            default: return
            }
        }
    }

    /// The next non-whitespace byte, not consumed.
    package mutating func peek() -> UInt8? {
        skipWhitespace()
        return offset < bytes.count ? bytes[offset] : nil
    }

    mutating func fail(_ message: String) -> Failure {
        Failure(message: message, offset: offset)
    }

    private mutating func expect(_ byte: UInt8) throws {
        guard peek() == byte else { throw fail("expected '\(Character(UnicodeScalar(byte)))'") }
        offset += 1
    }

    /// True (and consumed) when the next value is `null`.
    package mutating func readNull() throws -> Bool {
        guard peek() == UInt8(ascii: "n") else { return false }
        try literal("null")
        return true
    }

    private mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard offset + n <= bytes.count, let base = bytes.baseAddress, memcmp(base + offset, word.utf8Start, n) == 0 else {
            throw fail("invalid literal")
        }
        offset += n
    }

    /// Calls `body` with each key of an object; `body` must consume the value.
    package mutating func readObject(_ body: (inout JSONReader, Key) throws -> Void) throws {
        try expect(UInt8(ascii: "{"))
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("nested too deeply") }
        if peek() == UInt8(ascii: "}") { offset += 1; return }
        while true {
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try readKey()
            try expect(UInt8(ascii: ":"))
            try body(&self, key)
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "}"): offset += 1; return
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    /// Calls `body` for each element of an array; `body` must consume the element.
    package mutating func readArray(_ body: (inout JSONReader) throws -> Void) throws {
        try expect(UInt8(ascii: "["))
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail("nested too deeply") }
        if peek() == UInt8(ascii: "]") { offset += 1; return }
        while true {
            try body(&self)
            switch peek() {
            case UInt8(ascii: ","): offset += 1
            case UInt8(ascii: "]"): offset += 1; return
            default: throw fail("expected ',' or ']'")
            }
        }
    }

    /// An object key, compared by bytes without building a String.
    package struct Key {
        let bytes: UnsafeBufferPointer<UInt8>

        package static func == (key: Key, name: StaticString) -> Bool {
            guard key.bytes.count == name.utf8CodeUnitCount else { return false }
            guard let base = key.bytes.baseAddress else { return true }
            return memcmp(base, name.utf8Start, key.bytes.count) == 0
        }
    }

    private mutating func readKey() throws -> Key {
        offset += 1  // opening quote
        let start = offset
        while offset < bytes.count {
            let b = bytes[offset]
            if b == UInt8(ascii: "\"") {
                let key = Key(bytes: UnsafeBufferPointer(rebasing: bytes[start..<offset]))
                offset += 1
                return key
            }
            if b == UInt8(ascii: "\\") {
                // Escaped keys never name a field we read: skip the string, return an unmatched key.
                offset = start - 1
                try skipString()
                return Key(bytes: UnsafeBufferPointer(rebasing: bytes[start..<start]))
            }
            offset += 1
        }
        throw fail("unterminated key")
    }

    // MARK: - Values

    /// A string value (`null` reads as nil).
    package mutating func readString() throws -> String? {
        if try readNull() { return nil }
        guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string") }
        offset += 1
        let start = offset
        while offset < bytes.count {
            let b = bytes[offset]
            if b == UInt8(ascii: "\"") {
                let s = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<offset]), as: UTF8.self)
                offset += 1
                return s
            }
            if b == UInt8(ascii: "\\") { return try readEscapedString(from: start) }
            if b < 0x20 { throw fail("control character in string") }
            offset += 1
        }
        throw fail("unterminated string")
    }

    private mutating func readEscapedString(from start: Int) throws -> String {
        var out = [UInt8](UnsafeBufferPointer(rebasing: bytes[start..<offset]))
        while offset < bytes.count {
            let b = bytes[offset]
            offset += 1
            switch b {
            case UInt8(ascii: "\""):
                return String(decoding: out, as: UTF8.self)
            case UInt8(ascii: "\\"):
                guard offset < bytes.count else { throw fail("unterminated escape") }
                let e = bytes[offset]
                offset += 1
                switch e {
                case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar), offset + 1 < bytes.count,
                       bytes[offset] == UInt8(ascii: "\\"), bytes[offset + 1] == UInt8(ascii: "u") {
                        let save = offset
                        offset += 2
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            offset = save
                        }
                    }
                    let s = UnicodeScalar(scalar) ?? "\u{FFFD}"
                    out.append(contentsOf: String(Character(s)).utf8)
                default:
                    throw fail("invalid escape")
                }
            default:
                if b < 0x20 { throw fail("control character in string") }
                out.append(b)
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws -> UInt32 {
        guard offset + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[offset]
            offset += 1
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw fail("invalid \\u escape")
            }
            v = v << 4 | UInt32(d)
        }
        return v
    }

    /// An integer; a float with an integral value (`2.0`) is accepted; `null` and other values
    /// read as nil (the field is then treated as absent, as the Codable path does with `try?`).
    package mutating func readInt() throws -> Int? {
        switch peek() ?? 0 {
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = offset
            try skipNumber()
            let token = UnsafeBufferPointer(rebasing: bytes[start..<offset])
            var value = 0
            var negative = false
            var integral = true
            for (i, b) in token.enumerated() {
                if i == 0, b == UInt8(ascii: "-") { negative = true; continue }
                guard b >= UInt8(ascii: "0"), b <= UInt8(ascii: "9") else { integral = false; break }
                let (m, o1) = value.multipliedReportingOverflow(by: 10)
                let (a, o2) = m.addingReportingOverflow(Int(b - UInt8(ascii: "0")))
                if o1 || o2 { integral = false; break }
                value = a
            }
            if integral { return negative ? -value : value }
            return Double(String(decoding: token, as: UTF8.self)).flatMap { Int(exactly: $0) }
        default:
            try skipValue()
            return nil
        }
    }

    /// A boolean; `null` and other values read as nil.
    package mutating func readBool() throws -> Bool? {
        switch peek() {
        case UInt8(ascii: "t"): try literal("true"); return true
        case UInt8(ascii: "f"): try literal("false"); return false
        default: try skipValue(); return nil
        }
    }

    /// Skips any value without building it.
    package mutating func skipValue() throws {
        switch peek() ?? 0 {
        case UInt8(ascii: "{"): try readObject { reader, _ in try reader.skipValue() }
        case UInt8(ascii: "["): try readArray { reader in try reader.skipValue() }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): try skipNumber()
        case 0: throw fail("unexpected end of input")
        default: throw fail("unexpected character")
        }
    }

    private mutating func skipString() throws {
        offset += 1
        while offset < bytes.count {
            switch bytes[offset] {
            case UInt8(ascii: "\""): offset += 1; return
            case UInt8(ascii: "\\"): offset += 2
            default: offset += 1
            }
        }
        throw fail("unterminated string")
    }

    private mutating func skipNumber() throws {
        let start = offset
        while offset < bytes.count {
            switch bytes[offset] {
            case UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "+"), UInt8(ascii: "."),
                 UInt8(ascii: "e"), UInt8(ascii: "E"):
                offset += 1
            default:
                if offset == start { throw fail("invalid number") }
                return
            }
        }
    }

    /// Fails unless only whitespace is left.
    package mutating func expectEnd() throws {
        if peek() != nil { throw fail("unexpected data after the JSON value") }
    }
}
