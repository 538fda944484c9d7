import AsyncHTTPClient
import Foundation
import IngestKit
import NIOCore
import NIOSSL

extension OpenSearchIndex {
    /// Builds the AsyncHTTPClient `HTTPClient` for OpenSearch: TLS trusting OPENSEARCH_CA_CERT
    /// (only that CA, like opensearch-py's `ca_certs`), or no verification at all when
    /// OPENSEARCH_VERIFY_CERTS is false; explicit connect/read timeouts and pool size; no
    /// redirects (they could carry the Authorization header to another host).
    ///
    /// A separate client rather than the one the other services share, because its TLS trust is
    /// specific to the cluster. The caller owns it and must `shutdown()` it.
    /// - Throws: ``IngestError`` `configuration` naming OPENSEARCH_CA_CERT when the file is
    ///   missing, unreadable or holds no PEM certificate.
    package static func makeHTTPClient(configuration: OpenSearchConfiguration) throws -> HTTPClient {
        var tls = TLSConfiguration.makeClientConfiguration()
        if let path = configuration.caCertPath {
            tls.trustRoots = .certificates(try loadCACertificates(path: path))
        }
        if !configuration.verifyCerts {
            tls.certificateVerification = .none
        }
        var config = HTTPClient.Configuration()
        config.tlsConfiguration = tls
        config.redirectConfiguration = .disallow
        config.timeout = .init(
            connect: configuration.connectTimeout.timeAmount,
            // Idle time between bytes; the total deadline is set per request (requestTimeout).
            read: configuration.requestTimeout.timeAmount
        )
        config.connectionPool = .init(idleTimeout: configuration.idleTimeout.timeAmount, concurrentHTTP1ConnectionsPerHostSoftLimit: configuration.maxConnections)
        // Fail a refused or untrusted connection at once (AHC would otherwise retry it until the
        // connect timeout): OPENSEARCH_RETRY_ATTEMPTS governs retries, and health checks answer fast.
        config.connectionPool.retryConnectionEstablishment = false
        return HTTPClient(eventLoopGroup: HTTPClient.defaultEventLoopGroup, configuration: config)
    }

    /// Reads the PEM file, with messages that name the variable and the path.
    static func loadCACertificates(path: String) throws -> [NIOSSLCertificate] {
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw IngestError(.configuration, "OPENSEARCH_CA_CERT=\(path): the file does not exist or cannot be read; point it at the PEM file of the cluster's CA, or unset it")
        }
        let certificates: [NIOSSLCertificate]
        do {
            certificates = try NIOSSLCertificate.fromPEMFile(path)
        } catch {
            throw IngestError(.configuration, "OPENSEARCH_CA_CERT=\(path) is not a PEM certificate file (\(error)); export the CA as PEM (-----BEGIN CERTIFICATE-----)")
        }
        guard !certificates.isEmpty else {
            throw IngestError(.configuration, "OPENSEARCH_CA_CERT=\(path) holds no certificate; export the CA as PEM (-----BEGIN CERTIFICATE-----)")
        }
        return certificates
    }
}
