import Foundation
import GRPCCore
import GRPCNIOTransportHTTP2
import GRPCProtobuf
import IngestCore
import IngestKit
import Testing

@testable import IngestStepflowGRPC

private let openssl = ["/usr/bin/openssl", "/usr/local/bin/openssl"].first { FileManager.default.isExecutableFile(atPath: $0) }

/// The worker's TLS settings against a real gRPC server on loopback that requires a client
/// certificate (mutual TLS), with a CA, server and client certificate made by `openssl`.
@Suite(.enabled(if: openssl != nil, "needs openssl to make the certificates"), .timeLimit(.minutes(1)))
struct GRPCTLSTests {
    /// A private CA, a server certificate for 127.0.0.1 and a client certificate, in a temp dir.
    struct PKI {
        let dir: URL
        func path(_ name: String) -> String { dir.appending(path: name).path }

        init() throws {
            dir = FileManager.default.temporaryDirectory.appending(path: "grpc-mtls-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
            try run(["req", "-x509"] + ec + ["-keyout", path("ca.key"), "-out", path("ca.pem"), "-days", "2", "-subj", "/CN=ingest test CA"])
            try Data("subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n".utf8).write(to: URL(filePath: path("server.ext")))
            try Data("extendedKeyUsage=clientAuth\n".utf8).write(to: URL(filePath: path("client.ext")))
            for name in ["server", "client"] {
                try run(["req"] + ec + ["-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(name)"])
                try run(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.pem"), "-CAkey", path("ca.key"), "-CAcreateserial",
                         "-out", path("\(name).pem"), "-days", "2", "-extfile", path("\(name).ext")])
            }
        }

        private func run(_ arguments: [String]) throws {
            let process = Process()
            process.executableURL = URL(filePath: openssl!)
            process.arguments = arguments
            process.standardOutput = FileHandle.nullDevice
            process.standardError = FileHandle.nullDevice
            try process.run()
            process.waitUntilExit()
            guard process.terminationStatus == 0 else { throw CocoaError(.fileWriteUnknown, userInfo: ["openssl": arguments.joined(separator: " ")]) }
        }

        func remove() { try? FileManager.default.removeItem(at: dir) }
    }

    /// Serves `BlobService.GetBlob` over mutual TLS while `body` runs with the server's port.
    func withMTLSBlobServer(_ pki: PKI, _ body: (Int) async throws -> Void) async throws {
        let transport = HTTP2ServerTransport.Posix(
            address: .ipv4(host: "127.0.0.1", port: 0),
            transportSecurity: .mTLS(
                certificateChain: [.file(path: pki.path("server.pem"), format: .pem)],
                privateKey: .file(path: pki.path("server.key"), format: .pem)
            ) { config in
                config.trustRoots = .certificates([.file(path: pki.path("ca.pem"), format: .pem)])
            }
        )
        var router = RPCRouter<HTTP2ServerTransport.Posix>()
        router.registerHandler(
            forMethod: Stepflow_V1_BlobService.Method.GetBlob.descriptor,
            deserializer: ProtobufDeserializer<Stepflow_V1_GetBlobRequest>(),
            serializer: ProtobufSerializer<Stepflow_V1_GetBlobResponse>()
        ) { _, _ in
            var response = Stepflow_V1_GetBlobResponse()
            response.rawData = Data("over mutual TLS".utf8)
            return StreamingServerResponse(single: ServerResponse(message: response))
        }
        let server = GRPCServer(transport: transport, router: router)
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask { try await server.serve() }
            defer { server.beginGracefulShutdown() }
            let port = try #require(try await transport.listeningAddress.ipv4?.port)
            try await body(port)
        }
    }

    /// Reads one blob from `https://127.0.0.1:port` with `files`.
    func readBlob(port: Int, host: String = "127.0.0.1", _ files: GRPCTLSFiles) async throws -> BlobContent {
        let connections = GRPCConnections(tlsFiles: files)
        let reader = GRPCBlobReader(connections: connections, endpoint: GRPCEndpoint(host: host, port: port, tls: true), calls: GRPCCallOptions(maxMessageBytes: 1 << 20))
        return try await withThrowingDiscardingTaskGroup { group in
            group.addTask { await connections.run() }
            defer { connections.shutdown() }
            return try await reader.blob(id: "b1")
        }
    }

    @Test func theCAFileAndTheClientCertificateMakeMutualTLSWork() async throws {
        let pki = try PKI()
        defer { pki.remove() }
        try await withMTLSBlobServer(pki) { port in
            let content = try await readBlob(port: port, GRPCTLSFiles(caFile: pki.path("ca.pem"), certFile: pki.path("client.pem"), keyFile: pki.path("client.key")))
            #expect(content == .raw(bytes: Data("over mutual TLS".utf8), filename: nil, contentType: nil))
            // By name too: the DNS target, where the certificate's name is checked.
            let byName = try await readBlob(port: port, host: "localhost", GRPCTLSFiles(caFile: pki.path("ca.pem"), certFile: pki.path("client.pem"), keyFile: pki.path("client.key")))
            #expect(byName == content)
        }
    }

    @Test func anIPAddressIsDialledAsSuchOnlyWithTLS() {
        #expect(GRPCConnections.target(GRPCEndpoint(host: "127.0.0.1", port: 1, tls: true)) is ResolvableTargets.IPv4)
        #expect(GRPCConnections.target(GRPCEndpoint(host: "::1", port: 1, tls: true)) is ResolvableTargets.IPv6)
        #expect(GRPCConnections.target(GRPCEndpoint(host: "stepflow", port: 1, tls: true)) is ResolvableTargets.DNS)
        #expect(GRPCConnections.target(GRPCEndpoint(host: "1.2.3.400", port: 1, tls: true)) is ResolvableTargets.DNS)
        #expect(GRPCConnections.target(GRPCEndpoint(host: "127.0.0.1", port: 1, tls: false)) is ResolvableTargets.DNS)
    }

    @Test func filesThatDoNotLoadAreAConfigurationErrorAtStartup() throws {
        let pki = try PKI()
        defer { pki.remove() }
        try GRPCTLSFiles(caFile: pki.path("ca.pem"), certFile: pki.path("client.pem"), keyFile: pki.path("client.key")).checkLoadable()
        // The server's key is not the client certificate's.
        #expect { try GRPCTLSFiles(certFile: pki.path("client.pem"), keyFile: pki.path("server.key")).checkLoadable() } throws: { error in
            guard let error = error as? IngestError else { return false }
            return error.reason == .configuration && error.message.contains("STEPFLOW_TLS_KEY_FILE=\(pki.path("server.key"))")
        }
        // PEM armour around garbage.
        try Data("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n".utf8).write(to: URL(filePath: pki.path("bad.pem")))
        #expect(throws: IngestError.self) { try GRPCTLSFiles(caFile: pki.path("bad.pem")).checkLoadable() }
        // And through the settings `ingest serve` reads.
        let env = Environment(["STEPFLOW_TRANSPORT": "grpc", "STEPFLOW_TASKS_URL": "https://stepflow:7840", "STEPFLOW_TLS_CA_FILE": pki.path("bad.pem")])
        #expect(throws: IngestError.self) { try GRPCWorkerSettings.selected(transportOption: nil, env) }
    }

    @Test func withoutTheClientCertificateOrTheCAItFails() async throws {
        let pki = try PKI()
        defer { pki.remove() }
        try await withMTLSBlobServer(pki) { port in
            // No client certificate: the server refuses the handshake.
            await #expect(throws: IngestError.self) { try await readBlob(port: port, GRPCTLSFiles(caFile: pki.path("ca.pem"))) }
            // The system roots do not know the private CA.
            await #expect(throws: IngestError.self) { try await readBlob(port: port, GRPCTLSFiles(certFile: pki.path("client.pem"), keyFile: pki.path("client.key"))) }
        }
    }
}
