import Foundation
import IngestCore
import IngestKit
import Logging

/// No blob source on a JSON reply: the parser sends blobs down the SSE path.
struct NoBlobs: BlobReader {
    func blob(id: String) async throws -> BlobContent {
        throw IngestError(.internalError, "no callback channel on a JSON reply")
    }
}

/// Reads a blob with one `blobs/get` round trip: the request goes out as an SSE event, the
/// reply arrives as a POST.
struct CallbackBlobReader: BlobReader {
    var observability: JSONValue?
    var callbacks: PendingCallbacks
    var timeout: Duration
    var send: @Sendable (JSONValue) -> Void
    var logger: Logger
    /// Where the blob's size is reserved in the body budget once it has arrived.
    var hold: BudgetHold?

    func blob(id blobID: String) async throws -> BlobContent {
        let callID = JSONRPCID.string(UUID().uuidString.lowercased())
        var params: [String: JSONValue] = ["blob_id": .string(blobID)]
        if let observability { params["observability"] = observability }
        let request = JSONRPCEncoder.request(id: callID, method: "blobs/get", params: .object(params))
        logger.debug("blobs/get", metadata: ["blob_id": "\(blobID)", "callback_id": "\(callID)"])
        let reply: Result<JSONValue, JSONRPCError>
        do {
            reply = try await callbacks.call(id: callID, timeout: timeout) { send(request) }
        } catch is PendingCallbacks.CallbackTimeout {
            throw IngestError(
                .serviceUnavailable,
                "the orchestrator did not answer blobs/get for blob \(blobID) within \(timeout.wholeSeconds) s; check that replies reach this replica (Stepflow-Instance-Id routing)"
            )
        }
        switch reply {
        case .success(let result):
            guard let data = result["data"] else {
                throw IngestError(.invalidInput, "the orchestrator's blobs/get reply for blob \(blobID) has no data")
            }
            try await hold?.reserve(upTo: data.approximateTextBytes)
            return .json(data)
        case .failure(let error):
            throw IngestError(.invalidInput, "blob \(blobID) could not be read from the orchestrator (\(error.code): \(error.message)); check the blob_id")
        }
    }
}
