import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1

/// One HTTP request, as the clients build it. A value, so fakes can record and compare it.
package struct HTTPRequest: Sendable {
    package var method: String
    package var url: String
    package var headers: [(name: String, value: String)]
    package var body: Data?

    package init(method: String, url: String, headers: [(name: String, value: String)] = [], body: Data? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
    }

    package func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// One HTTP response, fully read (bounded by the transport's response limit).
package struct HTTPResponse: Sendable {
    package var status: Int
    package var headers: [(name: String, value: String)]
    package var body: Data

    package init(status: Int, headers: [(name: String, value: String)] = [], body: Data = Data()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    package func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// The body as text, cut to `limit` characters, for error messages.
    package func bodySnippet(limit: Int = 300) -> String {
        let text = String(decoding: body.prefix(limit * 4), as: UTF8.self)
        return text.count > limit ? String(text.prefix(limit)) + "…" : text
    }
}

/// The seam between our clients and the network: AsyncHTTPClient in production, an in-memory
/// fake (replaying captured responses) in unit tests.
package protocol HTTPTransport: Sendable {
    /// Sends `request` and reads the whole response.
    /// - Parameter timeout: total deadline for the request, body included.
    /// - Throws: ``IngestError`` `service_unavailable` (transient) when the server cannot be
    ///   reached or the deadline passes; the message names the (redacted) URL.
    func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse
}

/// ``HTTPTransport`` over one shared AsyncHTTPClient `HTTPClient`.
///
/// AsyncHTTPClient rather than URLSession: on Linux, URLSession cannot trust a custom CA file
/// (OPENSEARCH_CA_CERT) and has no streaming responses (shared/spec/swift-stack.md).
package struct AsyncHTTPTransport: HTTPTransport {
    /// A short cause for people, instead of NIO's nested error dumps.
    static func describe(_ error: any Error) -> String {
        let text = "\(error)"
        if text.contains("errno: 111") || text.contains("Connection refused") || text.contains("connectionRefused") { return "connection refused" }
        if text.contains("errno: 113") || text.contains("No route to host") { return "no route to host" }
        if text.contains("connectTimeout") { return "connection timed out" }
        if text.contains("remoteConnectionClosed") { return "the server closed the connection" }
        if text.contains("NXDOMAIN") || text.contains("Name or service not known") || text.contains("getaddrinfo") { return "host name does not resolve" }
        return redactingCredentials(text)
    }

    package let client: HTTPClient
    /// Responses larger than this are refused rather than read into memory.
    package var maxResponseBytes: Int

    package init(client: HTTPClient, maxResponseBytes: Int = 256 << 20) {
        self.client = client
        self.maxResponseBytes = maxResponseBytes
    }

    package func send(_ request: HTTPRequest, timeout: Duration) async throws -> HTTPResponse {
        var req = HTTPClientRequest(url: request.url)
        req.method = HTTPMethod(rawValue: request.method)
        for (name, value) in request.headers { req.headers.add(name: name, value: value) }
        if let body = request.body {
            req.body = .bytes(ByteBuffer(bytes: body))
        }
        let seconds = Double(timeout.components.seconds) + Double(timeout.components.attoseconds) / 1e18
        let deadline = NIODeadline.now() + .nanoseconds(Int64(seconds * 1e9))
        do {
            let response = try await client.execute(req, deadline: deadline)
            let buffer = try await response.body.collect(upTo: maxResponseBytes)
            return HTTPResponse(
                status: Int(response.status.code),
                headers: response.headers.map { (name: $0.name, value: $0.value) },
                body: Data(buffer.readableBytesView)
            )
        } catch is CancellationError {
            throw IngestError(.cancelled, "request to \(redactingCredentials(request.url)) was cancelled")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw IngestError(.serviceUnavailable, "\(request.method) \(redactingCredentials(request.url)) timed out after \(timeout)", transient: true)
        } catch let error as NIOTooManyBytesError {
            throw IngestError(.internalError, "\(request.method) \(redactingCredentials(request.url)): response larger than \(maxResponseBytes) bytes (\(error))")
        } catch {
            throw IngestError(.serviceUnavailable, "cannot reach \(redactingCredentials(request.url)): \(Self.describe(error))", transient: true)
        }
    }
}
