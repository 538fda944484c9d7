import Foundation
import Hummingbird

/// Reads a request body up to a limit without ever holding more than the limit (plus one network
/// chunk) in memory: a declared Content-Length over the limit is refused before reading, a chunked
/// body is counted while it streams. Whatever is left unread is discarded by Hummingbird.
package enum BoundedBody {
    /// Why a body was not read in full.
    package struct TooLarge: Error, Sendable, Equatable {
        /// The size the client declared, when it declared one.
        package var declaredLength: Int?
        /// INGEST_MAX_BODY_BYTES at the time of the refusal.
        package var limit: Int
        /// The first bytes of the body, to find the JSON-RPC id to answer with (the orchestrator
        /// writes `jsonrpc`, then `id`, first).
        package var prefix: Data
    }

    /// How many leading bytes of a refused body are kept to find its id.
    package static let sniffLength = 4096

    /// Collects `body`, or throws ``TooLarge`` as soon as it is known to exceed `limit`.
    package static func collect(_ body: RequestBody, declaredLength: Int?, limit: Int) async throws -> Data {
        if let declaredLength, declaredLength > limit {
            var prefix = Data()
            for try await buffer in body {
                prefix.append(contentsOf: buffer.readableBytesView.prefix(sniffLength))
                break
            }
            throw TooLarge(declaredLength: declaredLength, limit: limit, prefix: prefix)
        }
        var data = Data()
        if let declaredLength { data.reserveCapacity(declaredLength) }
        for try await buffer in body {
            if data.count + buffer.readableBytes > limit {
                if data.count < sniffLength {
                    data.append(contentsOf: buffer.readableBytesView.prefix(sniffLength - data.count))
                }
                throw TooLarge(declaredLength: declaredLength, limit: limit, prefix: data.prefix(sniffLength))
            }
            data.append(contentsOf: buffer.readableBytesView)
        }
        return data
    }

    /// Finds the top-level `"id"` of a JSON-RPC message from its first bytes, without parsing the
    /// (possibly huge, possibly truncated) rest. Returns nil when none is found.
    package static func sniffID(_ prefix: Data) -> JSONRPCID? {
        let text = String(decoding: prefix, as: UTF8.self)
        guard let keyRange = text.range(of: #""id"\s*:\s*"#, options: .regularExpression) else { return nil }
        let rest = text[keyRange.upperBound...]
        if rest.first == "\"" {
            // The raw string token, escapes and all, decoded by the JSON parser (so `\n`, `\u00e9`
            // and surrogate pairs come back as the orchestrator wrote them).
            var end = rest.index(after: rest.startIndex)
            var escaped = false
            while end < rest.endIndex {
                let character = rest[end]
                if escaped {
                    escaped = false
                } else if character == "\\" {
                    escaped = true
                } else if character == "\"" {
                    let token = rest[rest.startIndex...end]
                    return (try? JSONDecoder().decode(String.self, from: Data(token.utf8))).map { .string($0) }
                }
                end = rest.index(after: end)
            }
            return nil
        }
        let digits = rest.prefix(while: { $0 == "-" || $0.isASCII && $0.isNumber })
        return Int(digits).map { .int($0) }
    }
}
