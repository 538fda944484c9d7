import Foundation

/// The depth scan that runs before a body is decoded: decoding into ``JSONValue`` costs
/// superlinear time in the depth, so deep bodies are refused by one linear pass first
/// (ServerConfiguration.maxJSONDepth).
enum JSONNesting {
    /// Whether `body` opens more than `limit` arrays/objects at once (brackets inside strings
    /// ignored). One pass over the bytes, stopping at the first level over the limit.
    static func exceeds(_ body: Data, limit: Int) -> Bool {
        body.withUnsafeBytes { (bytes: UnsafeRawBufferPointer) -> Bool in
            var depth = 0
            var inString = false
            var escaped = false
            for byte in bytes {
                if inString {
                    if escaped {
                        escaped = false
                    } else if byte == UInt8(ascii: "\\") {
                        escaped = true
                    } else if byte == UInt8(ascii: "\"") {
                        inString = false
                    }
                    continue
                }
                switch byte {
                case UInt8(ascii: "\""): inString = true
                case UInt8(ascii: "["), UInt8(ascii: "{"):
                    depth += 1
                    if depth > limit { return true }
                case UInt8(ascii: "]"), UInt8(ascii: "}"): depth -= 1
                default: break
                }
            }
            return false
        }
    }
}
