/// The one JSON string escaper of the package: `ingest chunk`'s JSON Lines and OpenSearch's
/// `_bulk` lines both write strings through it (IngestChunking is the lowest target both reach).
package enum JSONStringLiteral {
    /// Appends `string` as a JSON string literal (RFC 8259): quotes, backslashes and control
    /// characters escaped, everything else copied as UTF-8.
    package static func append(_ string: String, to output: inout [UInt8]) {
        ChunkJSONLines.appendString(string, to: &output)
    }
}
