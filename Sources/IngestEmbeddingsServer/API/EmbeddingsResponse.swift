import Foundation
import NIOCore

/// The body of a successful `POST /v1/embeddings`, written straight into one buffer:
/// `{"object":"list","data":[{"object":"embedding","index":0,"embedding":…}],"model":…,"usage":{…}}`.
/// Written by hand rather than through `JSONEncoder`, which boxes every float: 2,048 vectors of
/// 384 numbers are 786,432 of them.
package enum EmbeddingsResponse {
    /// - Parameters:
    ///   - vectors: one per input, in input order.
    ///   - format: `.float` writes each number as the shortest decimal that reads back as the
    ///     same float32; `.base64` writes the little-endian float32 bytes in base64, as OpenAI does.
    package static func render(vectors: [[Float]], model: String, promptTokens: Int, format: EmbeddingsRequest.EncodingFormat) -> ByteBuffer {
        let dimension = vectors.first?.count ?? 0
        let perVector = format == .float ? dimension * 12 : (dimension * 4 + 2) / 3 * 4
        var buffer = ByteBufferAllocator().buffer(capacity: 128 + vectors.count * (perVector + 64))
        buffer.writeString(#"{"object":"list","data":["#)
        for (index, vector) in vectors.enumerated() {
            if index > 0 { buffer.writeString(",") }
            buffer.writeString(#"{"object":"embedding","index":"#)
            buffer.writeString(String(index))
            buffer.writeString(#","embedding":"#)
            switch format {
            case .float:
                buffer.writeString("[")
                for (position, value) in vector.enumerated() {
                    if position > 0 { buffer.writeString(",") }
                    // A normalised vector holds no NaN or infinity; JSON has no spelling for them.
                    buffer.writeString(value.isFinite ? value.description : "0")
                }
                buffer.writeString("]")
            case .base64:
                buffer.writeString("\"")
                buffer.writeString(base64(vector))
                buffer.writeString("\"")
            }
            buffer.writeString("}")
        }
        buffer.writeString(#"],"model":"#)
        buffer.writeString(jsonString(model))
        buffer.writeString(#","usage":{"prompt_tokens":"#)
        buffer.writeString(String(promptTokens))
        buffer.writeString(#","total_tokens":"#)
        buffer.writeString(String(promptTokens))
        buffer.writeString("}}")
        return buffer
    }

    /// The little-endian float32 bytes of `vector` in standard base64 (what OpenAI's
    /// `encoding_format: "base64"` sends and its clients decode with `np.frombuffer(…, "float32")`).
    package static func base64(_ vector: [Float]) -> String {
        var bytes = Data(capacity: vector.count * 4)
        for value in vector {
            withUnsafeBytes(of: value.bitPattern.littleEndian) { bytes.append(contentsOf: $0) }
        }
        return bytes.base64EncodedString()
    }

    /// `value` as a JSON string literal.
    static func jsonString(_ value: String) -> String {
        (try? String(decoding: JSONEncoder().encode(value), as: UTF8.self)) ?? "\"\""
    }
}
