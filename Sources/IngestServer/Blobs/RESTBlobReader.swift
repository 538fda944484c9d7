import AsyncHTTPClient
import Foundation
import IngestCore
import IngestKit

/// Reads blobs from the REST blob API of Stepflow 0.10 and 0.11 (`capabilities.blobApiUrl` of
/// their `initialize`, or STEPFLOW_BLOB_API_URL): `GET {blob API}/{blob_id}` with
/// `Accept: application/octet-stream`.
///
/// Checked against the real 0.11.1 server: with that header it answers every blob as raw bytes and
/// says which kind it is in `x-blob-type`: `data` (the body is the blob's JSON value, e.g. what
/// `/builtin/put_blob` stored) or `binary` (the document's bytes, its file name in
/// `content-disposition: attachment; filename="…"`). With the default `Accept: application/json`
/// it answers `{"data":…,"blobType":"data","blobId":…}` for a JSON blob but HTTP 500 "Failed to
/// deserialize blob data" for a binary one, so JSON is not asked for. A missing blob is 404 with
/// `{"code":404,"message":"Blob '…' not found"}`.
///
/// The HTTP worker uses it for `blob_id` sources whenever a blob API is known (0.9 has none and
/// answers `blobs/get` over SSE instead); the gRPC worker uses `GRPCBlobReader`.
package struct RESTBlobReader<Transport: HTTPTransport>: BlobReader {
    let transport: Transport
    /// The blob API's base, e.g. `http://stepflow-server:7840/api/v1/blobs` (no trailing slash).
    let baseURL: String
    let timeout: Duration

    package init(transport: Transport, baseURL: String, timeout: Duration = .seconds(60)) {
        self.transport = transport
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.timeout = timeout
    }

    /// Redirects followed within the blob API's origin; a redirect to another origin is refused.
    package static var maxRedirects: Int { 5 }

    /// Inside an execution, the blob's bytes are reserved in its ``BudgetHold`` before the GET:
    /// the kind (raw or JSON) and size are known only once it has arrived, so the JSON cap
    /// (``DocumentBudget/maxJSONBlobBytes``, at most the whole budget), trimmed to the body's size
    /// after; a raw blob over INGEST_MAX_FILE_BYTES is refused (`too_large`). Give the transport
    /// that same cap (``BlobAPIClient/transport(for:)``) so no larger body is read at all.
    package func blob(id: String) async throws(IngestError) -> BlobContent {
        let hold = BudgetHold.current
        let reserved = try await hold?.reserve(upTo: hold?.budget.maxJSONBlobBytes ?? 0) ?? 0
        let response = try await read(id: id)
        hold?.giveBack(reserved - response.body.count)
        return try Self.content(of: response, blobID: id, baseURL: baseURL, maxFileBytes: hold?.budget.maxFileBytes)
    }

    /// The blob's final response, redirects followed.
    private func read(id: String) async throws(IngestError) -> HTTPResponse {
        let encoded = id.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? id
        var url = "\(baseURL)/\(encoded)"
        for _ in 0...Self.maxRedirects {
            let request = HTTPRequest(method: "GET", url: url, headers: [(name: "Accept", value: "application/octet-stream")])
            let response: HTTPResponse
            do {
                response = try await transport.send(request, timeout: timeout)
            } catch let error as IngestError where error.reason == .tooLarge {
                throw IngestError(.tooLarge, "blob \(id) is larger than a document may be (INGEST_MAX_FILE_BYTES, 4/3 of it for a JSON blob carrying base64); it was not read: pass a smaller document or raise INGEST_MAX_FILE_BYTES")
            } catch let error as IngestError {
                throw IngestError(error.reason, "could not read blob \(id) from the blob API at \(redactingCredentials(baseURL)): \(error.message); check STEPFLOW_BLOB_API_URL", transient: error.isTransient)
            } catch {
                throw IngestError(.serviceUnavailable, "could not read blob \(id) from the blob API at \(redactingCredentials(baseURL)): \(error); check STEPFLOW_BLOB_API_URL", transient: true)
            }
            guard let next = try Self.redirect(of: response, from: url, baseURL: baseURL, blobID: id) else {
                return response
            }
            url = next
        }
        throw IngestError(.serviceUnavailable, "the blob API at \(redactingCredentials(baseURL)) redirected blob \(id) more than \(Self.maxRedirects) times; check STEPFLOW_BLOB_API_URL")
    }

    /// The next URL when `response` is a redirect within the blob API's origin, nil when it is not
    /// a redirect; throws for a redirect to another origin, which is never followed (pure, for tests).
    package static func redirect(of response: HTTPResponse, from current: String, baseURL: String, blobID id: String) throws(IngestError) -> String? {
        guard [301, 302, 303, 307, 308].contains(response.status), let location = response.header("location") else { return nil }
        guard let target = URL(string: location, relativeTo: URL(string: current))?.absoluteString,
              let next = HTTPURL(target), let base = HTTPURL(baseURL), next.origin == base.origin
        else {
            throw IngestError(.serviceUnavailable, "the blob API at \(redactingCredentials(baseURL)) redirected blob \(id) to another origin; blob reads follow redirects only within the configured origin: set STEPFLOW_BLOB_API_URL to the blob API itself")
        }
        return target
    }

    /// The blob in `response` (pure, for tests). A failed answer's body is not copied into the
    /// error: it comes from a server we do not control and the error reaches the caller.
    package static func content(of response: HTTPResponse, blobID id: String, baseURL: String, maxFileBytes: Int? = nil) throws(IngestError) -> BlobContent {
        switch response.status {
        case 200:
            break
        case 404:
            throw IngestError(.invalidInput, "blob \(id) does not exist in the orchestrator's blob store (\(redactingCredentials(baseURL))); store the document with /builtin/put_blob and pass the blob_id it returns")
        default:
            throw IngestError(.serviceUnavailable, "the blob API at \(redactingCredentials(baseURL)) answered HTTP \(response.status) for blob \(id); check STEPFLOW_BLOB_API_URL", transient: response.status >= 500 || response.status == 429)
        }
        let kind = response.header("x-blob-type")?.lowercased()
        if kind == "binary" {
            if let maxFileBytes { try BlobLimits.checkRaw(bytes: response.body.count, blobID: id, maxFileBytes: maxFileBytes) }
            return .raw(bytes: response.body, filename: filename(fromDisposition: response.header("content-disposition")), contentType: nil)
        }
        guard let value = try? JSONDecoder().decode(JSONValue.self, from: response.body) else {
            throw IngestError(.invalidInput, "blob \(id) (type \(kind ?? "unknown")) is not JSON; store the document as {filename, base64} with /builtin/put_blob, or as a binary blob")
        }
        return .json(value)
    }

    /// `attachment; filename="doc.md"` -> `doc.md`.
    static func filename(fromDisposition header: String?) -> String? {
        guard let header, let range = header.range(of: "filename=") else { return nil }
        var name = header[range.upperBound...].prefix { $0 != ";" }.trimmingCharacters(in: .whitespaces)
        if name.hasPrefix("\""), name.hasSuffix("\""), name.count >= 2 { name = String(name.dropFirst().dropLast()) }
        return name.isEmpty ? nil : name
    }
}

/// The HTTP client of REST blob reads.
package enum BlobAPIClient {
    /// The process's client for blob reads: AsyncHTTPClient's own redirect following is off, so
    /// ``blob(id:)`` decides each hop (same origin only). It lives as long as the process, as
    /// `HTTPClient.shared` does.
    package static let client = HTTPClient(
        eventLoopGroup: HTTPClient.defaultEventLoopGroup,
        configuration: HTTPClient.Configuration(redirectConfiguration: .disallow)
    )

    /// The transport for blob reads within `budget`: no response over its JSON blob cap
    /// (4/3 × INGEST_MAX_FILE_BYTES + 64 KiB) is read.
    package static func transport(for budget: DocumentBudget) -> AsyncHTTPTransport {
        AsyncHTTPTransport(client: client, maxResponseBytes: budget.maxJSONBlobBytes)
    }
}

/// The blob reader when `initialize` named a blob API that the operator did not allow: every
/// read fails as invalid input, and nothing is sent to that address.
package struct RefusedBlobReader: BlobReader {
    /// The blob API `initialize` named.
    let named: String

    package init(named: String) { self.named = named }

    package func blob(id: String) async throws(IngestError) -> BlobContent {
        let origin = HTTPURL(named).map { "\($0.origin)" } ?? redactingCredentials(named)
        throw IngestError(.invalidInput, "blob \(id) was not read: the orchestrator's initialize named the blob API \(redactingCredentials(named)), whose origin \(origin) is not in STEPFLOW_BLOB_API_ALLOW; set STEPFLOW_BLOB_API_URL to the orchestrator's blob API (…/api/v1/blobs), or add \(origin) to STEPFLOW_BLOB_API_ALLOW")
    }
}
