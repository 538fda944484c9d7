import Foundation

/// Standard base64 (RFC 4648 alphabet, with padding) decoded in one pass over the text's UTF-8
/// bytes into one preallocated buffer, skipping white space (line breaks in MIME-style bodies).
/// A worker step may carry up to INGEST_MAX_BODY_BYTES of it: filtering white space into a new
/// string and handing that to `Data(base64Encoded:)` copied it several times over.
package enum Base64 {
    /// The decoded bytes, or nil when `text` is not base64: a character outside the alphabet,
    /// padding anywhere but at the end, or a length (white space aside) that is not a multiple of 4.
    package static func decode(_ text: String) -> Data? {
        var text = text
        return text.withUTF8 { decode(bytes: UnsafeRawBufferPointer($0)) }
    }

    /// As ``decode(_:)``, over raw bytes.
    package static func decode(bytes input: UnsafeRawBufferPointer) -> Data? {
        var output = Data(count: input.count / 4 * 3 + 3)
        let written: Int? = output.withUnsafeMutableBytes { (out: UnsafeMutableRawBufferPointer) -> Int? in
            var quad: UInt32 = 0
            var inQuad = 0
            var padding = 0
            var written = 0
            for byte in input {
                let value = table[Int(byte)]
                if value < 64 {
                    // A data character after padding: "ab=c" or "ab==cd==".
                    guard padding == 0 else { return nil }
                    quad = quad << 6 | UInt32(value)
                } else if value == pad {
                    // At most two, and only in the last two places of a quad.
                    guard inQuad >= 2, padding < 2 else { return nil }
                    padding += 1
                    quad <<= 6
                } else if value == space {
                    continue
                } else {
                    return nil
                }
                inQuad += 1
                if inQuad == 4 {
                    out[written] = UInt8(truncatingIfNeeded: quad >> 16)
                    out[written + 1] = UInt8(truncatingIfNeeded: quad >> 8)
                    out[written + 2] = UInt8(truncatingIfNeeded: quad)
                    written += 3 - padding
                    if padding > 0 { padding = 3 }  // nothing may follow a padded quad
                    inQuad = 0
                    quad = 0
                }
            }
            guard inQuad == 0, padding != 1, padding != 2 else { return nil }
            return written
        }
        guard let written else { return nil }
        output.count = written
        return output
    }

    private static let pad: UInt8 = 64
    private static let space: UInt8 = 65
    private static let invalid: UInt8 = 255

    /// Byte → 6-bit value; `pad` for "=", `space` for white space, `invalid` otherwise.
    private static let table: [UInt8] = {
        var table = [UInt8](repeating: invalid, count: 256)
        for (index, byte) in "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".utf8.enumerated() {
            table[Int(byte)] = UInt8(index)
        }
        table[Int(UInt8(ascii: "="))] = pad
        for byte in [UInt8(ascii: " "), UInt8(ascii: "\t"), UInt8(ascii: "\n"), UInt8(ascii: "\r"), 0x0B, 0x0C] {
            table[Int(byte)] = space
        }
        return table
    }()
}
