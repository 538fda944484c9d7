import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import NIOPosix
import NIOSSL

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

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

/// Why a request got no answer, classified from AsyncHTTPClient's and NIO's error types so
/// callers decide by case (retry or not, which setting to name) and people read a short cause
/// instead of NIO's nested error dumps.
package enum TransportFailure: String, Sendable, Equatable, CustomStringConvertible {
    case connectionRefused, noRoute, connectTimeout, timedOut, connectionClosed, hostNotFound
    /// The TLS handshake failed: an untrusted certificate, or a server that does not speak TLS.
    case tlsHandshake
    /// Not recognised; its text is only logged, never put in a message.
    case other

    package var description: String {
        switch self {
        case .connectionRefused: "connection refused"
        case .noRoute: "no route to host"
        case .connectTimeout: "connection timed out"
        case .timedOut: "the request timed out"
        case .connectionClosed: "the server closed the connection"
        case .hostNotFound: "host name does not resolve"
        case .tlsHandshake: "the TLS handshake failed"
        case .other: "the connection failed"
        }
    }
}

/// ``HTTPTransport`` over one shared AsyncHTTPClient `HTTPClient`.
///
/// AsyncHTTPClient rather than URLSession: on Linux, URLSession cannot trust a custom CA file
/// (OPENSEARCH_CA_CERT) and has no streaming responses.
package struct AsyncHTTPTransport: HTTPTransport {
    /// What went wrong, read from the error's type (never from its text); `.other` for
    /// anything not recognised, whose text is then left out of messages.
    static func classify(_ error: any Error) -> TransportFailure {
        switch error {
        case let error as HTTPClientError:
            if error == .connectTimeout { return .connectTimeout }
            if error == .remoteConnectionClosed { return .connectionClosed }
            if error == .tlsHandshakeTimeout { return .tlsHandshake }
            return .other
        case let error as IOError:
            switch error.errnoCode {
            case ECONNREFUSED: return .connectionRefused
            case EHOSTUNREACH, ENETUNREACH: return .noRoute
            case ECONNRESET, EPIPE: return .connectionClosed
            case ETIMEDOUT: return .connectTimeout
            default: return .other
            }
        case let error as NIOConnectionError:
            // Every address failed: the first attempt's cause, else the lookup failed.
            if let first = error.connectionErrors.first { return classify(first.error) }
            return .hostNotFound
        case is SocketAddressError, is SocketAddressError.UnknownHost:
            return .hostNotFound
        case is NIOSSLError, is NIOSSLExtraError, is BoringSSLError:
            return .tlsHandshake
        case is ChannelError:
            return .connectionClosed
        default:
            return .other
        }
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
            // Sent from the Data itself, 4 MiB at a time (AsyncHTTPClient slices a collection
            // lazily): a 90 MB upload is not copied whole into a ByteBuffer first.
            req.body = .bytes(body)
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
            throw IngestError(.serviceUnavailable, "\(request.method) \(redactingCredentials(request.url)) timed out after \(timeout)", transient: true, transportFailure: .timedOut)
        } catch is NIOTooManyBytesError {
            throw IngestError(.tooLarge, "\(request.method) \(redactingCredentials(request.url)): response larger than \(maxResponseBytes) bytes, not read")
        } catch {
            let failure = Self.classify(error)
            // An unrecognised error is named by its type only: its text can be a nested dump.
            let cause = failure == .other ? "\(failure.description) (\(type(of: error)))" : failure.description
            throw IngestError(.serviceUnavailable, "cannot reach \(redactingCredentials(request.url)): \(cause)", transient: true, transportFailure: failure)
        }
    }
}
