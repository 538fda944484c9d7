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
    /// The body as it is sent: these parts one after the other. A document upload is three parts
    /// (the form fields and file head, the document's own bytes, the closing boundary), so the
    /// document is sent from the bytes the caller holds and never copied into a body of its own.
    package var bodyParts: [Data]

    package init(method: String, url: String, headers: [(name: String, value: String)] = [], body: Data? = nil) {
        self.init(method: method, url: url, headers: headers, bodyParts: body.map { [$0] } ?? [])
    }

    package init(method: String, url: String, headers: [(name: String, value: String)] = [], bodyParts: [Data]) {
        self.method = method
        self.url = url
        self.headers = headers
        self.bodyParts = bodyParts
    }

    /// The body in one piece, nil without one. More than one part are joined (a copy): for tests
    /// and small bodies only.
    package var body: Data? {
        switch bodyParts.count {
        case 0: nil
        case 1: bodyParts[0]
        default: bodyParts.reduce(into: Data()) { $0.append($1) }
        }
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
        // Sent from the caller's Data, 4 MiB at a time: a 90 MB upload is never copied whole
        // into a ByteBuffer (AsyncHTTPClient slices one collection lazily; BodySlices the parts).
        switch request.bodyParts.count {
        case 0: break
        case 1: req.body = .bytes(request.bodyParts[0])
        default:
            let length = request.bodyParts.reduce(0) { $0 + $1.count }
            req.body = .stream(BodySlices(parts: request.bodyParts), length: .known(Int64(length)))
        }
        let deadline = NIODeadline.now() + timeout.timeAmount
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

/// The parts of a request body as ByteBuffers of at most ``sliceBytes``, each copied from its
/// part only when the connection asks for it.
package struct BodySlices: AsyncSequence, Sendable {
    package typealias Element = ByteBuffer
    /// AsyncHTTPClient's own slice size for a collection body.
    package static let sliceBytes = 4 << 20
    package let parts: [Data]

    package init(parts: [Data]) { self.parts = parts }

    package struct AsyncIterator: AsyncIteratorProtocol {
        let parts: [Data]
        var part = 0
        var offset = 0

        package mutating func next() async -> ByteBuffer? {
            while part < parts.count {
                let data = parts[part]
                if offset < data.count {
                    let end = Swift.min(offset + BodySlices.sliceBytes, data.count)
                    let slice = data[(data.startIndex + offset)..<(data.startIndex + end)]
                    offset = end
                    return ByteBuffer(bytes: slice)
                }
                part += 1
                offset = 0
            }
            return nil
        }
    }

    package func makeAsyncIterator() -> AsyncIterator { AsyncIterator(parts: parts) }
}
