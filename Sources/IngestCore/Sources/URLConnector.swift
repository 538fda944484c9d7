import AsyncHTTPClient
import Foundation
import IngestKit
import NIOCore
import NIOHTTP1

/// The status line and headers of a download.
package struct DownloadHead: Sendable {
    package var status: Int
    package var headers: [(name: String, value: String)]

    package init(status: Int, headers: [(name: String, value: String)] = []) {
        self.status = status
        self.headers = headers
    }

    package func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }
}

/// What a download delivers, in order: the head once, then the body piece by piece.
package enum DownloadPart {
    case head(DownloadHead)
    case body(ByteBuffer)
}

/// The seam of URL downloads: one GET to an address chosen (and checked) by the caller, with the
/// body streamed to the caller, who may stop it at any point. AsyncHTTPClient in production; a
/// fake stream in unit tests.
package protocol URLConnector: Sendable {
    /// GETs `url` over a connection to `address` (an IP address), never resolving the URL's
    /// host again; the `Host` header and TLS (SNI, certificate check) still use the host name.
    /// Redirects are not followed. `receive` gets the head, then each piece of the body, and
    /// returns false to stop reading (the connection is closed); what it throws ends the download.
    /// - Throws: ``IngestError`` `service_unavailable` (transient) when the address cannot be
    ///   reached or `timeout` passes; whatever `receive` throws.
    func get(_ url: HTTPURL, connectingTo address: String, timeout: Duration, receive: (DownloadPart) throws -> Bool) async throws
}

/// ``URLConnector`` over AsyncHTTPClient. AsyncHTTPClient resolves host names itself and has
/// no per-request resolver, so each download gets its own small client (on the shared event
/// loops) whose `dnsOverride` maps the URL's host to the checked address: the connection goes to
/// that address, while `Host` and TLS SNI keep the name. The client is shut down when the
/// download ends, so a connection is never reused for another (possibly re-resolved) request.
package struct PinnedHTTPConnector: URLConnector {
    /// How long to wait for the TCP/TLS connection.
    package var connectTimeout: Duration

    package init(connectTimeout: Duration = .seconds(5)) {
        self.connectTimeout = connectTimeout
    }

    package func get(_ url: HTTPURL, connectingTo address: String, timeout: Duration, receive: (DownloadPart) throws -> Bool) async throws {
        var configuration = HTTPClient.Configuration()
        configuration.redirectConfiguration = .disallow
        configuration.timeout = .init(connect: connectTimeout.timeAmount)
        configuration.connectionPool.retryConnectionEstablishment = false
        // The key is the host as AsyncHTTPClient reads it from the URL (Foundation's URL.host,
        // brackets trimmed), so the override always applies; an IP literal needs none.
        if let written = URL(string: url.text)?.host, URLGuard.isIPLiteral(written) == false {
            configuration.dnsOverride = [written: address]
        }
        let client = HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: configuration)
        do {
            try await download(client: client, url: url, address: address, timeout: timeout, receive: receive)
        } catch {
            try? await client.shutdown()
            throw error
        }
        try? await client.shutdown()
    }

    private func download(client: HTTPClient, url: HTTPURL, address: String, timeout: Duration, receive: (DownloadPart) throws -> Bool) async throws {
        let request = HTTPClientRequest(url: url.text)
        let deadline = NIODeadline.now() + timeout.timeAmount
        do {
            let response = try await client.execute(request, deadline: deadline)
            let head = DownloadHead(status: Int(response.status.code), headers: response.headers.map { (name: $0.name, value: $0.value) })
            guard try receive(.head(head)) else { return }
            for try await buffer in response.body {
                guard try receive(.body(buffer)) else { return }
            }
        } catch let error as IngestError {
            throw error
        } catch is CancellationError {
            throw IngestError(.cancelled, "download of \(redactingCredentials(url.text)) was cancelled")
        } catch let error as HTTPClientError where error == .deadlineExceeded || error == .readTimeout {
            throw IngestError(.serviceUnavailable, "GET \(redactingCredentials(url.text)) timed out after \(timeout)", transient: true)
        } catch {
            // The cause by type, never NIO's text (it would reach the step's caller).
            let cause = (error as? HTTPClientError) == .connectTimeout ? "the connection timed out" : "the connection failed or was closed"
            throw IngestError(.serviceUnavailable, "cannot download \(redactingCredentials(url.text)) from \(url.host) (\(address)): \(cause)", transient: true)
        }
    }
}
