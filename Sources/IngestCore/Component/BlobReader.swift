import Foundation
import IngestKit

/// What a blob holds. Stepflow's `blobs/get` returns JSON (a `source` value); the coming gRPC and
/// REST blob APIs return the document's bytes themselves.
package enum BlobContent: Sendable, Equatable {
    /// A value of the shape `source` takes: a path, a URL, or an object with url, path or base64.
    case json(JSONValue)
    /// The document itself, with the name and type the store knows it by.
    case raw(bytes: Data, filename: String?, contentType: String?)
}

/// Reads a blob for the component: each transport brings its own (the HTTP worker's is a
/// `blobs/get` callback over SSE; tests use an in-memory one).
package protocol BlobReader: Sendable {
    /// The content of blob `id`.
    /// - Throws: ``IngestError``: `invalid_input` for a blob that cannot be read (unknown id),
    ///   `service_unavailable` when the store does not answer in time.
    func blob(id: String) async throws -> BlobContent
}

/// The caps on what a blob read may bring into memory, the same for every transport.
package enum BlobLimits {
    /// Refuses a raw blob over INGEST_MAX_FILE_BYTES, as a path or URL of that size is refused.
    package static func checkRaw(bytes: Int, blobID id: String, maxFileBytes: Int) throws(IngestError) {
        guard bytes <= maxFileBytes else {
            throw IngestError(.tooLarge, "blob \(id) is \(bytes) bytes, over INGEST_MAX_FILE_BYTES (\(maxFileBytes)); pass a smaller document or raise the limit")
        }
    }
}
