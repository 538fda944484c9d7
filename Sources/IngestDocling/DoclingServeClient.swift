import Foundation
import IngestChunking
import IngestKit

/// ``DocumentConverter`` over Docling Serve's asynchronous API: upload the file, poll the task
/// with our own sleeps, fetch the result, decode the DoclingDocument.
///
/// Async rather than sync endpoints: a sync call costs at least ~2 s (the server's own poll
/// interval) and ends in 504 after Docling Serve's DOCLING_SERVE_MAX_SYNC_WAIT. The polling
/// decisions live in ``DoclingTaskStateMachine``; this type only does the I/O.
package struct DoclingServeClient: DocumentConverter {
    /// Endpoint, key, timeouts and limits this client was made with.
    package let configuration: DoclingConfiguration
    private let transport: any HTTPTransport
    /// Conversions in flight across every caller of this client.
    private let limiter: AsyncLimiter
    private let sleep: @Sendable (Duration) async throws -> Void

    /// - Parameters:
    ///   - configuration: endpoint, key, timeouts and limits.
    ///   - transport: the HTTP seam (AsyncHTTPClient in production, a fake in tests).
    ///   - sleep: how polls and retries wait (`Task.sleep` by default).
    package init(
        configuration: DoclingConfiguration,
        transport: any HTTPTransport,
        sleep: @escaping @Sendable (Duration) async throws -> Void = { try await Task.sleep(for: $0) }
    ) {
        self.configuration = configuration
        self.transport = transport
        self.limiter = AsyncLimiter(limit: configuration.maxInFlight)
        self.sleep = sleep
    }

    /// Converts `document`: the HTTP and task logic, and the result read once (status, errors,
    /// Markdown and the DoclingDocument in one pass over the body).
    package func convert(_ document: SourceDocument, options: [String: JSONValue]) async throws -> ConvertedDocument {
        do {
            return try await limitedConversion(document, options: options)
        } catch is CancellationError {
            throw IngestError(.cancelled, "the conversion of \(redactingCredentials(document.source)) was cancelled")
        }
    }

    /// The conversion under the in-flight limit: submit, poll, fetch as the state machine says.
    private func limitedConversion(_ document: SourceDocument, options: [String: JSONValue]) async throws -> ConvertedDocument {
        try await limiter.withPermit {
            let source = redactingCredentials(document.source)
            let form = formOptions(options)
            var machine = DoclingTaskStateMachine(configuration: configuration, source: source)
            let clock = ContinuousClock()
            let start = clock.now
            var action = machine.start()
            while true {
                try Task.checkCancellation()
                switch action {
                case .submit:
                    let status = try await submit(document, form: form, source: source)
                    action = machine.submitted(
                        taskID: status.taskID,
                        status: .init(status.taskStatus),
                        errorMessage: status.errorMessage,
                        at: clock.now - start
                    )
                case .poll(let taskID, let after):
                    try await sleep(after)
                    if let status = try await poll(taskID, source: source) {
                        action = machine.polled(status: .init(status.taskStatus), errorMessage: status.errorMessage, at: clock.now - start)
                    } else {
                        action = machine.taskNotFound(at: clock.now - start)
                    }
                case .fetchResult(let taskID, _):
                    if let body = try await result(taskID, source: source) {
                        machine.resultFetched()
                        return try DoclingResponseMapper.conversion(from: body, source: source)
                    }
                    action = machine.resultNotFound(at: clock.now - start)
                case .fail(let error):
                    throw error
                }
            }
        }
    }

    /// Checks `/health` answers, then that our API key is accepted (`/version` needs it, `/health` does not).
    package func checkHealth() async throws {
        _ = try await version()
    }

    /// Docling Serve's version (`docling-serve` from `/version`), after checking `/health`.
    package func version() async throws -> String? {
        let health = try await send(HTTPRequest(method: "GET", url: configuration.url("/health"), headers: headers()), timeout: configuration.requestTimeout)
        guard health.status == 200 else { throw httpError(health, doing: "GET /health", source: nil) }
        let response = try await send(HTTPRequest(method: "GET", url: configuration.url("/version"), headers: headers()), timeout: configuration.requestTimeout)
        guard response.status == 200 else { throw httpError(response, doing: "GET /version", source: nil) }
        return (try? JSONValue.parse(response.body, what: "/version"))?["docling-serve"]?.stringValue
    }

    // MARK: - Requests

    /// The option fields sent with the upload: the caller's options (already merged with
    /// DOCLING_CONVERT_OPTIONS by the pipeline), then what this client needs forced (both
    /// output formats, no images in the body).
    package func formOptions(_ options: [String: JSONValue]) -> [(name: String, value: JSONValue)] {
        var merged = options
        merged["to_formats"] = ["json", "md"]
        merged["include_images"] = false
        merged["image_export_mode"] = "placeholder"
        if merged["document_timeout"] == nil {
            // Only Docling's PDF pipeline honours it, but there it stops work we would abandon anyway.
            merged["document_timeout"] = .double(configuration.documentTimeout.seconds)
        }
        return merged.sorted { $0.key < $1.key }.map { (name: $0.key, value: $0.value) }
    }

    /// The upload request for `document` (public to the package for tests of its shape).
    package func submitRequest(_ document: SourceDocument, form: [(name: String, value: JSONValue)], boundary: String? = nil) -> HTTPRequest {
        var multipart = boundary.map { MultipartFormData(boundary: $0) } ?? MultipartFormData()
        for (name, value) in form { multipart.addOption(name, value) }
        multipart.addFile("files", filename: document.filename, contentType: document.mimetype ?? Self.mimeType(for: document.filename), data: document.bytes)
        return HTTPRequest(
            method: "POST",
            url: configuration.url("/v1/convert/file/async"),
            headers: headers() + [(name: "Content-Type", value: multipart.contentType), (name: "Accept", value: "application/json")],
            bodyParts: multipart.finalize()
        )
    }

    private func submit(_ document: SourceDocument, form: [(name: String, value: JSONValue)], source: String) async throws -> DoclingTaskStatusResponse {
        let request = submitRequest(document, form: form)
        let response = try await sendWithRetries(request, timeout: configuration.uploadTimeout(bytes: document.bytes.count), doing: "uploading", source: source)
        guard response.status == 200 else { throw httpError(response, doing: "POST /v1/convert/file/async", source: source) }
        return try decodeStatus(response, source: source)
    }

    /// The task's status, or nil when Docling no longer knows the task (404).
    private func poll(_ taskID: String, source: String) async throws -> DoclingTaskStatusResponse? {
        let request = HTTPRequest(method: "GET", url: configuration.url("/v1/status/poll/\(Self.pathComponent(taskID))"), headers: headers())
        let response = try await sendWithRetries(request, timeout: configuration.requestTimeout, doing: "polling", source: source)
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw httpError(response, doing: "GET /v1/status/poll", source: source) }
        return try decodeStatus(response, source: source)
    }

    /// The result body, or nil on 404 (the task failed, or its result is gone).
    private func result(_ taskID: String, source: String) async throws -> Data? {
        let request = HTTPRequest(method: "GET", url: configuration.url("/v1/result/\(Self.pathComponent(taskID))"), headers: headers())
        let response = try await sendWithRetries(request, timeout: configuration.requestTimeout, doing: "fetching the result", source: source)
        if response.status == 404 { return nil }
        guard response.status == 200 else { throw httpError(response, doing: "GET /v1/result", source: source) }
        return response.body
    }

    private func decodeStatus(_ response: HTTPResponse, source: String) throws -> DoclingTaskStatusResponse {
        do {
            return try JSONDecoder().decode(DoclingTaskStatusResponse.self, from: response.body)
        } catch {
            throw IngestError(.parseFailed, "Docling Serve's task status for \(source) is not readable (\(response.bodySnippet())); is DOCLING_SERVE_URL a Docling Serve 1.x?")
        }
    }

    private func headers() -> [(name: String, value: String)] {
        guard let key = configuration.apiKey, !key.isEmpty else { return [] }
        return [(name: "X-Api-Key", value: key)]
    }

    /// Sends with retries on transient failures (5xx, connection errors): a 5xx answer becomes a
    /// transient error inside the loop and, if retries run out, the error the caller sees.
    private func sendWithRetries(_ request: HTTPRequest, timeout: Duration, doing: String, source: String) async throws -> HTTPResponse {
        try await withRetries(configuration.retry, sleep: sleep) {
            let response = try await send(request, timeout: timeout)
            if response.meaning.isTransient {
                throw httpError(response, doing: "\(request.method) \(Self.path(of: request.url))", source: source)
            }
            return response
        }
    }

    /// Sends once, naming DOCLING_SERVE_URL when the server cannot be reached.
    private func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        do {
            return try await transport.send(request, timeout: timeout)
        } catch let error as IngestError where error.reason == .serviceUnavailable {
            throw IngestError(
                .serviceUnavailable,
                "Docling Serve at \(redactingCredentials(configuration.baseURL)) did not answer (\(error.message)); start it, or set DOCLING_SERVE_URL",
                transient: true,
                retryAfter: error.retryAfter
            )
        }
    }

    /// The error for a non-success answer.
    private func httpError(_ response: HTTPResponse, doing: String, source: String?) -> IngestError {
        let server = redactingCredentials(configuration.baseURL)
        let what = source.map { " for \($0)" } ?? ""
        let detail = DoclingResponseMapper.detail(of: response.body) ?? response.bodySnippet()
        switch response.meaning {
        case .credentialsRefused:
            let fix = configuration.apiKey?.isEmpty == false
                ? "DOCLING_SERVE_API_KEY does not match the server's key: fix it"
                : "the server requires an API key: set DOCLING_SERVE_API_KEY"
            return IngestError(.authFailed, "Docling Serve at \(server) refused \(doing)\(what) (HTTP \(response.status)); \(fix)")
        case .tooLarge:
            return IngestError(.tooLarge, "Docling Serve at \(server) (or a proxy in front of it) refused \(source ?? "the upload") as too large (HTTP 413); split the document or raise the limit")
        case .refused where response.status == 422:
            return IngestError(.internalError, "Docling Serve rejected our request\(what) (\(doing), HTTP 422): \(detail); this is a bug in ingest or an option in DOCLING_CONVERT_OPTIONS has a wrong value")
        case .notFound:
            return IngestError(.configuration, "Docling Serve at \(server) answered 404 to \(doing)\(what): \(detail); check that DOCLING_SERVE_URL points at Docling Serve (without a path)")
        case .unavailable:
            return IngestError(.serviceUnavailable, "Docling Serve at \(server) is unavailable (\(doing)\(what), HTTP \(response.status): \(detail)); check the server or try again later", transient: true, retryAfter: response.retryAfter)
        case .serverFailed:
            return IngestError(.parseFailed, "Docling Serve at \(server) failed while \(doing)\(what) (HTTP \(response.status): \(detail)); its log has the cause", transient: true)
        case .refused:
            return IngestError(.parseFailed, "Docling Serve at \(server) answered HTTP \(response.status) to \(doing)\(what): \(detail)")
        }
    }

    private static func path(of url: String) -> String {
        URLComponents(string: url)?.path ?? url
    }

    private static func pathComponent(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .urlPathAllowed.subtracting(CharacterSet(charactersIn: "/"))) ?? text
    }

    /// The MIME type for a file name's extension (Docling sniffs content too; this is a hint).
    package static func mimeType(for filename: String) -> String {
        MimeTypes.forFilename(filename) ?? "application/octet-stream"
    }
}
