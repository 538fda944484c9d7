import AsyncHTTPClient
import Foundation
import NIOCore
import NIOSSL
import Testing

@testable import IngestKit

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Transport errors are classified by their type, so a changed wording in NIO cannot turn an
/// untrusted certificate into a retried "connection failed", and no NIO text reaches a message.
@Suite struct TransportFailureTests {
    struct Unknown: Error, CustomStringConvertible {
        var description: String { "NIOCore.SomethingNew(deeply: nested(dump: 1))" }
    }

    @Test func errorsAreClassifiedByType() {
        #expect(AsyncHTTPTransport.classify(IOError(errnoCode: ECONNREFUSED, reason: "connect")) == .connectionRefused)
        #expect(AsyncHTTPTransport.classify(IOError(errnoCode: EHOSTUNREACH, reason: "connect")) == .noRoute)
        #expect(AsyncHTTPTransport.classify(HTTPClientError.connectTimeout) == .connectTimeout)
        #expect(AsyncHTTPTransport.classify(HTTPClientError.remoteConnectionClosed) == .connectionClosed)
        #expect(AsyncHTTPTransport.classify(NIOSSLError.handshakeFailed(.sslError([]))) == .tlsHandshake)
        #expect(AsyncHTTPTransport.classify(NIOSSLError.unableToValidateCertificate) == .tlsHandshake)
        // A real lookup failure (".invalid" never resolves): NIO's UnknownHost has no public init.
        do {
            _ = try SocketAddress.makeAddressResolvingHost("nowhere.invalid", port: 80)
            Issue.record("nowhere.invalid resolved")
        } catch {
            #expect(AsyncHTTPTransport.classify(error) == .hostNotFound)
        }
        #expect(AsyncHTTPTransport.classify(Unknown()) == .other)
    }

    @Test func messagesNameTheCauseNotTheDump() {
        for failure in [TransportFailure.connectionRefused, .noRoute, .connectTimeout, .timedOut, .connectionClosed, .hostNotFound, .tlsHandshake, .other] {
            #expect(!failure.description.contains("NIO") && !failure.description.isEmpty)
        }
    }
}
