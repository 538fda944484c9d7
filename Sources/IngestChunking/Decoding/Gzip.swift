import CZlib
import Foundation

/// gzip decompression through the system zlib, so `ingest chunk file.json.gz` and stored
/// compressed DoclingDocuments need no extra dependency.
package enum Gzip {
    /// Most bytes one decompression may produce (INGEST_MAX_DECOMPRESSED_BYTES, default 1 GiB).
    /// The output is what is capped, not the input: a few kilobytes of gzip can inflate to
    /// gigabytes. A task-local, so the command that read the setting can apply it to the
    /// decoders below without threading it through every call.
    @TaskLocal package static var maxOutputBytes: Int = 1 << 30

    /// gzip's magic bytes.
    package static func isCompressed(_ data: Data) -> Bool {
        data.count >= 2 && data[data.startIndex] == 0x1f && data[data.startIndex + 1] == 0x8b
    }

    /// Inflates every gzip member in `data` (concatenated members are legal gzip).
    /// - Throws: `DoclingDecodingError` naming INGEST_MAX_DECOMPRESSED_BYTES as soon as the
    ///   output would pass `limit` (nothing past it is produced).
    package static func decompress(_ data: Data, limit: Int = maxOutputBytes) throws -> Data {
        var stream = z_stream()
        // 16 + MAX_WBITS: expect a gzip header and trailer, not a raw zlib stream.
        var status = inflateInit2_(&stream, 16 + MAX_WBITS, ZLIB_VERSION, Int32(MemoryLayout<z_stream>.size))
        guard status == Z_OK else { throw DoclingDecodingError(description: "gzip: zlib could not start (\(status))") }
        defer { inflateEnd(&stream) }

        var output = Data()
        output.reserveCapacity(min(data.count, max(0, limit) / 8) * 8)
        let chunkSize = 1 << 18
        var buffer = [UInt8](repeating: 0, count: chunkSize)
        try data.withUnsafeBytes { (input: UnsafeRawBufferPointer) in
            guard let base = input.bindMemory(to: Bytef.self).baseAddress else { return }
            stream.next_in = UnsafeMutablePointer(mutating: base)
            stream.avail_in = uInt(input.count)
            while true {
                let produced: Int = buffer.withUnsafeMutableBufferPointer { out in
                    stream.next_out = out.baseAddress
                    stream.avail_out = uInt(chunkSize)
                    status = inflate(&stream, Z_NO_FLUSH)
                    return chunkSize - Int(stream.avail_out)
                }
                guard output.count + produced <= limit else {
                    throw DoclingDecodingError(description: "gzip: the data inflates to more than \(limit) bytes, the limit INGEST_MAX_DECOMPRESSED_BYTES sets; raise it, or give the uncompressed file")
                }
                if produced > 0 { output.append(contentsOf: buffer[0..<produced]) }
                switch status {
                case Z_STREAM_END:
                    if stream.avail_in == 0 { return }
                    // Another gzip member follows.
                    guard inflateReset(&stream) == Z_OK else {
                        throw DoclingDecodingError(description: "gzip: could not read the next member")
                    }
                case Z_OK:
                    continue
                case Z_BUF_ERROR where stream.avail_in == 0:
                    throw DoclingDecodingError(description: "gzip: the data is truncated")
                default:
                    let reason = stream.msg.map { String(cString: $0) } ?? "error \(status)"
                    throw DoclingDecodingError(description: "gzip: corrupt data (\(reason))")
                }
            }
        }
        return output
    }
}
